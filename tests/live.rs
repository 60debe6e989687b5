//! Live results through the local gateway's WebSocket API, with a real WebSocket client:
//! who may watch (anonymous for results everyone sees; a token, as a subprotocol beside
//! `ballot` or as the `token` query parameter, for the rest; forged and expired tokens
//! refused at the handshake), the first frame equal to `GET …/results`, refusals as error
//! frames, ping/pong keeping a quiet connection past the idle timeout (shortened to 5 s
//! by `make test`), and clear errors for what no route takes; pushes after votes
//! (coalesced, the last frame exact), final frames on closing and deletion, a vanished
//! client dropped after its first `410`, and a connection closed when its token expires.
//! Every frame the server sends is checked against the AsyncAPI document
//! (`infra/asyncapi.yaml`).

use std::time::Duration;

use ballot_core::access::Role;
use ballot_core::ports::Watchers;
use ballot_tests::{
    assert_frame_conforms, asyncapi, call, guest_tokens, local_keys, local_store, required_env, token_for,
    token_settings,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The WebSocket API's URL (its stage is the template's default, `prod`).
fn live_url() -> String {
    format!("{}/prod", required_env("BALLOT_WS_URL"))
}

/// Connects with `protocols` offered (`Sec-WebSocket-Protocol`) and `query`; the socket
/// and the subprotocol the server chose, or the handshake's refusal status.
async fn connect(protocols: &[&str], query: &str) -> Result<(Socket, Option<String>), u16> {
    let mut request = format!("{}{query}", live_url()).into_client_request().unwrap();
    if !protocols.is_empty() {
        request.headers_mut().insert("sec-websocket-protocol", protocols.join(", ").parse().unwrap());
    }
    match connect_async(request).await {
        Ok((socket, response)) => {
            let chosen = response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
            Ok((socket, chosen))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

async fn anonymous() -> Socket {
    connect(&[], "").await.expect("an anonymous connection").0
}

/// Sends `frame` and reads the next text frame, as JSON.
async fn ask(socket: &mut Socket, frame: Value) -> Value {
    socket.send(Message::text(frame.to_string())).await.unwrap();
    next_frame(socket).await
}

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("a frame in time");
        match message.expect("the connection is open").unwrap() {
            Message::Text(text) => return conforming(text.as_str()),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// A server frame, checked against the AsyncAPI document.
fn conforming(text: &str) -> Value {
    let frame = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_frame_conforms(&frame);
    frame
}

/// A new poll of a new editor with `settings` (merged into a two-option poll).
async fn poll(settings: Value) -> (String, String, String) {
    let owner = token_for(&[Role::Editor]).await;
    let mut body = json!({"question": "Live?", "options": [{"text": "a"}, {"text": "b"}], "allow_guests": true});
    body.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    (owner, poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned())
}

fn subscribe(poll_id: &str) -> Value {
    json!({"action": "subscribe", "poll_id": poll_id})
}

#[tokio::test]
async fn given_a_poll_whose_results_everyone_sees_when_an_anonymous_watcher_subscribes_then_its_first_frame_is_get_results()
 {
    let (owner, id, option) = poll(json!({"results_visibility": "always"})).await;
    let voter = guest_tokens(1).await.remove(0);
    let vote = call("POST", &format!("/v1/polls/{id}/votes"), &voter).json(&json!({"option_ids": [option]}));
    assert_eq!(vote.send().await.unwrap().status(), 201);
    ballot_tests::assert_recounted(&id).await;

    let mut socket = anonymous().await;
    let frame = ask(&mut socket, subscribe(&id)).await;
    let response = call("GET", &format!("/v1/polls/{id}/results"), &owner).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let mut results: Value = response.json().await.unwrap();
    assert_eq!((frame["type"].as_str(), frame["poll_id"].as_str()), (Some("results"), Some(id.as_str())));
    assert_eq!(frame["etag"], etag.as_str(), "the ETag of GET …/results");
    let mut pushed = frame["results"].clone();
    for body in [&mut results, &mut pushed] {
        body.as_object_mut().unwrap().remove("as_of"); // when each was read
    }
    assert_eq!(pushed, results, "the body of GET …/results");
    assert_eq!(frame["results"]["total_ballots"], 1);
}

#[tokio::test]
async fn given_an_after_vote_poll_then_an_anonymous_watcher_is_refused_and_a_voter_watches_once_voted() {
    let (_, id, option) = poll(json!({"results_visibility": "after_vote"})).await;
    let mut socket = anonymous().await;
    let refused = ask(&mut socket, subscribe(&id)).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["poll_id"], id.as_str());
    assert_eq!(refused["problem"]["status"], 403);
    assert_eq!(refused["problem"]["type"], "urn:ballot:problem:results-hidden");

    let voter = guest_tokens(1).await.remove(0);
    let (mut socket, chosen) = connect(&["ballot", &voter], "").await.expect("a token holder connects");
    assert_eq!(chosen.as_deref(), Some("ballot"), "the server echoes `ballot`, never the token");
    assert_eq!(ask(&mut socket, subscribe(&id)).await["problem"]["status"], 403, "not voted yet");
    let vote = call("POST", &format!("/v1/polls/{id}/votes"), &voter).json(&json!({"option_ids": [option]}));
    assert_eq!(vote.send().await.unwrap().status(), 201);
    let frame = ask(&mut socket, subscribe(&id)).await;
    assert_eq!(frame["type"], "results", "{frame}");

    // The same watcher by the query parameter.
    let (mut socket, chosen) = connect(&[], &format!("?token={voter}")).await.expect("a token in the query");
    assert_eq!(chosen, None);
    assert_eq!(ask(&mut socket, subscribe(&id)).await["type"], "results");
}

#[tokio::test]
async fn given_forged_expired_or_misplaced_tokens_then_the_handshake_is_refused() {
    let voter = guest_tokens(1).await.remove(0);
    let (head, rest) = voter.split_once('.').unwrap();
    let forged = format!("{head}.{}", rest.replace(|c: char| c.is_ascii_digit(), "A"));
    assert_eq!(connect(&["ballot", &forged], "").await.err(), Some(401), "a forged token");

    let keys = local_keys().await;
    let (kid, key) = keys.signer().unwrap();
    let settings = token_settings();
    let t = shared::auth::token::now();
    let claims = json!({"iss": settings.issuer, "aud": settings.audience, "sub": "expired-guest", "exp": t - 120,
        "nbf": t - 900, "iat": t - 900, "jti": "j", "roles": ["guest"], "kind": "guest"});
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
    let header: jsonwebtoken::Header = serde_json::from_value(header).unwrap();
    let expired = jsonwebtoken::encode(&header, &claims, key).unwrap();
    assert_eq!(connect(&["ballot", &expired], "").await.err(), Some(401), "an expired token");

    assert_eq!(connect(&[&voter], "").await.err(), Some(400), "a token without `ballot` to echo");
    let two = format!("?token={voter}");
    assert_eq!(connect(&["ballot", &voter], &two).await.err(), Some(400), "two tokens");
}

#[tokio::test]
async fn given_pings_and_strange_messages_then_pongs_and_clear_error_frames() {
    let mut socket = anonymous().await;
    assert_eq!(ask(&mut socket, json!({"action": "ping"})).await, json!({"type": "pong"}));
    for strange in [json!({"action": "shout"}), json!({"no": "action"}), json!({"action": "subscribe"})] {
        let frame = ask(&mut socket, strange.clone()).await;
        assert_eq!(frame["type"], "error", "{strange}: {frame}");
        assert_eq!(frame["problem"]["status"], 400, "{strange}: {frame}");
        assert!(frame["problem"]["detail"].as_str().unwrap().contains("action"), "{frame}");
    }
    socket.send(Message::text("{not json")).await.unwrap();
    assert_eq!(next_frame(&mut socket).await["problem"]["status"], 400);
    let unknown = ask(&mut socket, subscribe("no-such-poll")).await;
    assert_eq!((unknown["problem"]["status"].as_u64(), unknown["poll_id"].as_str()), (Some(404), Some("no-such-poll")));
}

#[tokio::test]
async fn given_the_idle_timeout_then_a_pinging_connection_stays_and_a_quiet_one_is_closed() {
    let idle: u64 = required_env("BALLOT_WS_IDLE_SECS").parse().unwrap();
    let (mut pinging, mut quiet) = (anonymous().await, anonymous().await);
    let until = tokio::time::Instant::now() + Duration::from_secs(idle * 2 + 1);
    while tokio::time::Instant::now() < until {
        assert_eq!(ask(&mut pinging, json!({"action": "ping"})).await["type"], "pong");
        tokio::time::sleep(Duration::from_secs(idle / 3).max(Duration::from_millis(500))).await;
    }
    let closed = tokio::time::timeout(Duration::from_secs(5), quiet.next()).await.expect("closed by now");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001, "going away"),
        other => panic!("the quiet connection was not closed as API Gateway does: {other:?}"),
    }
    assert_eq!(ask(&mut pinging, json!({"action": "ping"})).await["type"], "pong", "the pinging one is open");
}

#[test]
fn given_the_asyncapi_document_then_every_message_it_names_is_defined_and_its_examples_conform() {
    let document = asyncapi();
    assert_eq!(document["asyncapi"], "3.0.0");
    let messages = document["channels"]["live"]["messages"].as_object().unwrap();
    let names: Vec<&str> = messages.keys().map(String::as_str).collect();
    let mut expected = ["subscribe", "unsubscribe", "ping", "results", "error", "pong", "closed", "deleted"];
    expected.sort_unstable();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "the frames of docs/live.md");
    for name in names {
        let examples = document["components"]["messages"][name]["examples"].as_array();
        let examples = examples.unwrap_or_else(|| panic!("message `{name}` has no example"));
        for example in examples {
            assert_frame_conforms(&example["payload"]);
        }
    }
    // The check can fail: a frame the document does not allow.
    let stray = std::panic::catch_unwind(|| assert_frame_conforms(&json!({"type": "pong", "poll_id": "p1"})));
    assert!(stray.is_err(), "a pong with a poll_id is refused");
}

/// The template's default coalescing window (`LiveCoalesceMilliseconds`), which `make test` keeps.
const WINDOW: Duration = Duration::from_millis(1000);

/// Reads frames (pinging the whole time, so the idle timeout never closes the socket) until
/// one satisfies `last`: every frame but the pongs, with when it came.
async fn frames_until(socket: &mut Socket, last: impl Fn(&Value) -> bool) -> Vec<(tokio::time::Instant, Value)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut ping = tokio::time::interval(Duration::from_millis(1500));
    let mut frames = Vec::new();
    loop {
        tokio::select! {
            _ = ping.tick() => socket.send(Message::text(json!({"action": "ping"}).to_string())).await.unwrap(),
            message = socket.next() => match message.expect("the connection is open").unwrap() {
                Message::Text(text) => {
                    let frame = conforming(text.as_str());
                    if frame["type"] == "pong" {
                        continue;
                    }
                    let done = last(&frame);
                    frames.push((tokio::time::Instant::now(), frame));
                    if done {
                        return frames;
                    }
                }
                Message::Close(frame) => panic!("closed: {frame:?}; frames so far: {frames:?}"),
                _ => {}
            },
            _ = tokio::time::sleep_until(deadline) => panic!("no last frame in time; frames: {frames:?}"),
        }
    }
}

/// The option counts of a `results` frame, or of a `GET …/results` body.
fn counts(results: &Value) -> Vec<(String, u64)> {
    let options = results["options"].as_array().unwrap();
    options.iter().map(|o| (o["id"].as_str().unwrap().to_owned(), o["votes"].as_u64().unwrap())).collect()
}

#[tokio::test]
async fn given_50_votes_when_watched_then_the_last_frame_is_exact_and_pushes_came_at_most_once_a_window() {
    let (owner, id, first) = poll(json!({"results_visibility": "always"})).await;
    let poll: Value = call("GET", &format!("/v1/polls/{id}"), &owner).send().await.unwrap().json().await.unwrap();
    let second = poll["options"][1]["id"].as_str().unwrap().to_owned();
    let mut socket = anonymous().await;
    assert_eq!(ask(&mut socket, subscribe(&id)).await["results"]["total_ballots"], 0);

    // 50 votes in five bursts over about 2.5 s: several windows' worth of changes.
    let voters = guest_tokens(50).await;
    let casting = {
        let id = id.clone();
        tokio::spawn(async move {
            for (n, burst) in voters.chunks(10).enumerate() {
                let votes = burst.iter().enumerate().map(|(i, voter)| {
                    let option = if (n * 10 + i) % 2 == 0 { &first } else { &second };
                    call("POST", &format!("/v1/polls/{id}/votes"), voter).json(&json!({"option_ids": [option]})).send()
                });
                for vote in futures::future::join_all(votes).await {
                    assert_eq!(vote.unwrap().status(), 201);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let frames = frames_until(&mut socket, |frame| frame["results"]["total_ballots"] == 50).await;
    casting.await.unwrap();

    let (_, last) = frames.last().unwrap();
    assert!(frames.iter().all(|(_, f)| f["type"] == "results" && f["poll_id"] == id.as_str()), "{frames:?}");
    let got: Value =
        call("GET", &format!("/v1/polls/{id}/results"), &owner).send().await.unwrap().json().await.unwrap();
    assert_eq!(counts(&last["results"]), counts(&got), "the last frame has the exact counts");
    assert_eq!(counts(&got).iter().map(|(_, n)| n).collect::<Vec<_>>(), [&25, &25]);
    ballot_tests::assert_recounted(&id).await;
    // Pushes leave at least a window apart (the live mark decides it); their arrival may
    // differ by the local queue's polling and the pusher's own time (a few hundred ms on
    // a loaded machine), so half a window is allowed; the count bounds them as well.
    let gaps: Vec<Duration> = frames.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let totals: Vec<&Value> = frames.iter().map(|(_, f)| &f["results"]["total_ballots"]).collect();
    eprintln!("pushes: totals {totals:?}, gaps {gaps:?}");
    assert!(gaps.iter().all(|gap| *gap >= WINDOW / 2), "pushes closer than a window: {gaps:?}");
    let span = frames.last().unwrap().0 - frames[0].0;
    assert!(frames.len() as u128 <= span.as_millis() / WINDOW.as_millis() + 2, "{} pushes in {span:?}", frames.len());
    assert!(frames.len() >= 2, "pushed as the votes came, not once at the end: {frames:?}");
}

#[tokio::test]
async fn given_watched_polls_when_closed_or_deleted_then_final_frames_and_no_subscription_left() {
    let (owner, id, option) = poll(json!({"results_visibility": "after_close"})).await;
    ballot_tests::vote_as_new_viewer(&id, &option).await;
    let mut socket = connect(&["ballot", &owner], "").await.expect("the owner connects").0;
    assert_eq!(ask(&mut socket, subscribe(&id)).await["type"], "results");
    assert_eq!(call("POST", &format!("/v1/polls/{id}/close"), &owner).send().await.unwrap().status(), 200);
    let frames = frames_until(&mut socket, |frame| frame["type"] == "closed").await;
    let (_, before) = &frames[frames.len() - 2];
    assert_eq!(before["results"]["status"], "closed", "a last results frame before `closed`: {frames:?}");
    assert_eq!(before["results"]["total_ballots"], 1);
    assert_eq!(frames.last().unwrap().1, json!({"type": "closed", "poll_id": id}));

    let (owner, id, _) = poll(json!({"results_visibility": "always"})).await;
    let mut watcher = anonymous().await;
    assert_eq!(ask(&mut watcher, subscribe(&id)).await["type"], "results");
    let deleted = call("DELETE", &format!("/v1/polls/{id}"), &owner).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let frames = frames_until(&mut watcher, |frame| frame["type"] == "deleted").await;
    assert_eq!(frames.last().unwrap().1, json!({"type": "deleted", "poll_id": id}));
    // The pusher ends the subscription just after the frame leaves: wait for it.
    let store = local_store().await;
    let gone = ballot_tests::eventually(Duration::from_secs(10), || async {
        let mut left = 0;
        for shard in 0..ballot_core::live::WATCHER_SHARDS {
            left += store.watchers_page(&id, shard, 0, 100, None).await.unwrap().0.len();
        }
        left == 0
    })
    .await;
    assert!(gone, "the subscription is gone");
    assert_eq!(ask(&mut watcher, json!({"action": "ping"})).await["type"], "pong", "the connection stays open");
}

#[tokio::test]
async fn given_a_vanished_client_when_a_push_finds_it_gone_then_it_is_dropped() {
    let (_, id, option) = poll(json!({"results_visibility": "always"})).await;
    let mut socket = anonymous().await;
    assert_eq!(ask(&mut socket, subscribe(&id)).await["type"], "results");
    // A connection API Gateway ended without a `$disconnect` (it delivers those on a
    // best-effort basis): its subscription is still in the table, the client is gone.
    let store = local_store().await;
    let now = shared::auth::token::now();
    let vanished = ballot_core::live::Connection::opened("vanished0000000=", None, None, now);
    store.connected(&vanished).await.unwrap();
    store.watch(&vanished, &id, ballot_core::polls::ResultsVisibility::Always).await.unwrap();

    ballot_tests::vote_as_new_viewer(&id, &option).await;
    frames_until(&mut socket, |frame| frame["results"]["total_ballots"] == 1).await;
    let shard = ballot_core::live::watcher_shard(&vanished.id);
    let gone = ballot_tests::eventually(Duration::from_secs(10), || async {
        let (watchers, _) = store.watchers_page(&id, shard, now, 1000, None).await.unwrap();
        !watchers.iter().any(|w| w.connection_id == vanished.id)
    })
    .await;
    assert!(gone, "the first push's 410 dropped the vanished connection's subscription");
    assert_eq!(store.connection(&vanished.id, now).await.unwrap(), None, "and the connection");
}

#[tokio::test]
async fn given_a_token_that_expires_when_connected_with_it_then_the_connection_is_closed_at_expiry() {
    let keys = local_keys().await;
    let (kid, key) = keys.signer().unwrap();
    let settings = token_settings();
    let t = shared::auth::token::now();
    let expires = t + 4;
    let sub = ballot_core::ids::random_id();
    let claims = json!({"iss": settings.issuer, "aud": settings.audience, "sub": sub, "exp": expires,
        "nbf": t - 1, "iat": t - 1, "jti": "j", "roles": ["guest"], "kind": "guest"});
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
    let header: jsonwebtoken::Header = serde_json::from_value(header).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, key).unwrap();
    let (_, id, _) = poll(json!({"results_visibility": "always"})).await;
    let mut socket = connect(&["ballot", &token], "").await.expect("a token good for 4 s more").0;
    assert_eq!(ask(&mut socket, subscribe(&id)).await["type"], "results");

    // Pinging, so the idle timeout (5 s) cannot be what closes it.
    let mut ping = tokio::time::interval(Duration::from_millis(1500));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let closed = loop {
        tokio::select! {
            _ = ping.tick() => {
                let _ = socket.send(Message::text(json!({"action": "ping"}).to_string())).await;
            }
            message = socket.next() => match message {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => continue,
                other => panic!("not closed by the server: {other:?}"),
            },
            _ = tokio::time::sleep_until(deadline) => panic!("still open 20 s after its token expired"),
        }
    };
    let at = shared::auth::token::now();
    assert!(at >= expires, "closed at {at}, before its token expired at {expires}");
    assert_eq!(closed.map(|f| u16::from(f.code)), Some(1000), "closed by the server (a management DELETE)");
}
