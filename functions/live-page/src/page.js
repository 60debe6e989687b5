"use strict";
// The live results of the poll in this page's path, over the WebSocket API named in
// <meta name="ballot-live">. A token for polls whose results are not public comes from
// the fragment (#token=…), which no server sees; it is sent as a subprotocol.
(() => {
  const socketUrl = document.querySelector('meta[name="ballot-live"]').content;
  const match = location.pathname.match(/\/polls\/([^/]+)\/live$/);
  const pollId = match ? decodeURIComponent(match[1]) : "";
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  const $ = (id) => document.getElementById(id);
  let attempt = 0, ended = false, pinger = null;

  const say = (text, kind = "info") => { $("state").textContent = text; $("state").dataset.kind = kind; };

  function render(results) {
    $("question").textContent = results.question;
    document.title = results.question + " · live results";
    const list = $("options");
    list.replaceChildren(...results.options.map((option) => {
      const item = document.createElement("li");
      item.dataset.option = option.id;
      const label = document.createElement("div");
      label.className = "label";
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = option.text;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = `${option.votes} · ${option.percent}%`;
      label.append(text, count);
      const track = document.createElement("div");
      track.className = "track";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = `${Math.min(100, option.percent)}%`;
      track.append(fill);
      item.append(label, track);
      return item;
    }));
    $("total").textContent = `${results.total_ballots} ${results.total_ballots === 1 ? "ballot" : "ballots"}`;
    if (results.status === "closed") say("This poll is closed: these are its final results.", "closed");
    else say("Live: results move as votes arrive.", "live");
  }

  function end(text, kind) { ended = true; say(text, kind); }

  function connect() {
    if (!pollId) return end("This page's address names no poll.", "problem");
    const socket = token ? new WebSocket(socketUrl, ["ballot", token]) : new WebSocket(socketUrl);
    socket.onopen = () => {
      attempt = 0;
      socket.send(JSON.stringify({ action: "subscribe", poll_id: pollId }));
      pinger = setInterval(() => socket.send(JSON.stringify({ action: "ping" })), 5 * 60 * 1000);
    };
    socket.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.type === "results" && frame.poll_id === pollId) render(frame.results);
      else if (frame.type === "closed") { end("This poll is closed: these are its final results.", "closed"); socket.close(); }
      else if (frame.type === "deleted") {
        $("options").replaceChildren();
        $("total").textContent = "";
        end("This poll was deleted.", "deleted");
        socket.close();
      } else if (frame.type === "error" && frame.problem) {
        const hidden = /results-hidden/.test(frame.problem.type || "");
        if (hidden) $("options").replaceChildren();
        end(hidden ? "The results of this poll are hidden." : (frame.problem.title || "The results can't be shown."),
          hidden ? "hidden" : "problem");
        socket.close();
      }
    };
    socket.onclose = () => {
      clearInterval(pinger);
      if (ended) return;
      const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      say(`Connection lost: reconnecting in ${Math.ceil(delay / 1000)} s…`, "reconnecting");
      setTimeout(connect, delay);
    };
  }
  connect();
})();
