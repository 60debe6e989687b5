//! `live-fanout` (run by `make bench` on both of its local stacks, `infra/bench.sh`): 1,000
//! WebSocket subscribers to one public poll, connected through the local gateway's
//! WebSocket API like browsers on the live page, then one vote at a time:
//! - how long after the vote is answered each subscriber has a `results` frame with it
//!   (p50, p99, and the last of the 1,000), over `ROUNDS` votes;
//! - frames per update: every `results` frame the subscribers got in a round, over N
//!   (1.00 when each watcher gets the update once; more if a page was pushed twice);
//! - behind the AWS proxy (the second stack), what one update costs on the wire: the
//!   DynamoDB calls, units and SQS messages of the vote, the tally and the pushers
//!   together, from the proxy's meter (pushes go to the WebSocket API's management
//!   endpoint, which the frames count).
//!
//! Rounds are 2 s apart, more than the coalescing window (1 s), so each vote makes one
//! push of its own. The stack is the development one (debug builds, moto): the figures
//! compare changes on this machine; they are not AWS figures.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ballot_core::access::Role;
use ballot_load::{Meter, Spent, percentiles};
use ballot_tests::{call, guest_tokens, post_as, required_env, token_for};
use futures::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::{connect_async, tungstenite::Message};

const WATCHERS: usize = 1_000;
const ROUNDS: usize = 10;
/// Connections opened at once (API Gateway's default quota is 500 new ones per second).
const CONNECTING: usize = 50;
const BETWEEN_ROUNDS: Duration = Duration::from_secs(2);

/// A `results` frame as a subscriber got it: which subscriber, the poll's ballot count
/// in it, and when.
type Arrival = (usize, u64, Instant);

/// Opens subscriber `index`, subscribes to `poll` and waits for its first frame; from then
/// on every `results` frame it gets goes to `arrivals`. How long it took until the first
/// frame.
async fn subscribe(index: usize, poll: String, arrivals: Arc<Mutex<Vec<Arrival>>>) -> Duration {
    let started = Instant::now();
    let url = format!("{}/prod", required_env("BALLOT_WS_URL"));
    let (mut socket, _) = connect_async(url.as_str()).await.expect("a WebSocket connection");
    let subscribe = json!({"action": "subscribe", "poll_id": poll});
    socket.send(Message::text(subscribe.to_string())).await.expect("subscribe sent");
    let first = tokio::time::timeout(Duration::from_secs(60), socket.next()).await.expect("a first frame in time");
    let first: Value = serde_json::from_str(first.expect("open").expect("a frame").to_text().unwrap()).unwrap();
    assert_eq!(first["type"], "results", "subscribed: {first}");
    let subscribed = started.elapsed();
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
            if frame["type"] == "results" {
                let total = frame["results"]["total_ballots"].as_u64().unwrap_or_default();
                arrivals.lock().unwrap().push((index, total, Instant::now()));
            }
        }
    });
    subscribed
}

/// Whether the stack's AWS calls go through the AWS proxy (its meter answers).
async fn metered(meter: &Meter) -> bool {
    std::env::var("BALLOT_AWS_UPSTREAM_URL").is_ok_and(|u| !u.is_empty()) && meter.read().await.is_object()
}

#[tokio::main]
async fn main() {
    let editor = token_for(&[Role::Editor]).await;
    let body = json!({"question": "Live?", "options": [{"text": "a"}, {"text": "b"}], "allow_guests": true,
        "results_visibility": "always"});
    let poll = post_as(&editor, "/v1/polls", &body).await;
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned());
    let voters = guest_tokens(ROUNDS).await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut subscribing: Vec<Duration> =
        stream::iter((0..WATCHERS).map(|i| subscribe(i, id.clone(), arrivals.clone())))
            .buffer_unordered(CONNECTING)
            .collect()
            .await;
    let subscribed_in = started.elapsed();
    eprintln!("{WATCHERS} subscribed in {:.1} s", subscribed_in.as_secs_f64());

    let meter = Meter::of_the_stack();
    let metered = metered(&meter).await;
    let (mut each, mut last, mut frames) = (Vec::new(), Vec::new(), 0);
    let mut spent = Vec::new();
    for (round, token) in voters.iter().enumerate() {
        tokio::time::sleep(BETWEEN_ROUNDS).await;
        arrivals.lock().unwrap().clear();
        if metered {
            meter.reset().await;
        }
        let vote = call("POST", &format!("/v1/polls/{id}/votes"), token).json(&json!({"option_ids": [option]}));
        assert_eq!(vote.send().await.unwrap().status(), 201, "a vote failed");
        let answered = Instant::now();
        let total = round as u64 + 1;
        loop {
            let got: HashSet<usize> =
                arrivals.lock().unwrap().iter().filter(|(_, t, _)| *t >= total).map(|(i, _, _)| *i).collect();
            if got.len() == WATCHERS {
                break;
            }
            assert!(answered.elapsed() < Duration::from_secs(60), "round {round}: {} of {WATCHERS} updated", got.len());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // What else this update brings (a second push of a page) arrives in the pause.
        tokio::time::sleep(BETWEEN_ROUNDS).await;
        let round_arrivals = arrivals.lock().unwrap().clone();
        let mut firsts = vec![None; WATCHERS];
        for (i, _, at) in round_arrivals.iter().filter(|(_, t, _)| *t >= total) {
            firsts[*i].get_or_insert(at.duration_since(answered));
        }
        let firsts: Vec<Duration> = firsts.into_iter().map(|d| d.expect("every watcher updated")).collect();
        last.push(*firsts.iter().max().unwrap());
        each.extend(firsts);
        frames += round_arrivals.len();
        if metered {
            spent.push(meter.spent().await);
        }
    }
    let (e50, e99) = percentiles(&mut each);
    let (l50, l99) = percentiles(&mut last);
    let (s50, s99) = percentiles(&mut subscribing);
    let frames_per_update = frames as f64 / (WATCHERS * ROUNDS) as f64;
    let stack = if metered { "behind the AWS proxy" } else { "local stack" };
    println!("| live results, {WATCHERS} WebSocket subscribers to one poll ({stack}) | p50 | p99 | updates |");
    println!("| :--- | ---: | ---: | ---: |");
    let rate = WATCHERS as f64 / subscribed_in.as_secs_f64();
    println!(
        "| connect, subscribe, first frame ({CONNECTING} at a time, {rate:.0}/s) | {s50:.1} ms | {s99:.1} ms | {WATCHERS} |"
    );
    println!("| vote answered → a subscriber has it | {e50:.1} ms | {e99:.1} ms | {ROUNDS} × {WATCHERS} |");
    println!("| vote answered → all {WATCHERS} have it | {l50:.1} ms | {l99:.1} ms | {ROUNDS} |");
    println!("| results frames per subscriber per update | {frames_per_update:.2} | | |");
    if metered {
        let total = Spent::sum(&spent);
        println!();
        println!(
            "| on the wire, per update to {WATCHERS} watchers (the vote included) | write units | read units | DynamoDB calls | SQS messages |"
        );
        println!("| :--- | ---: | ---: | ---: | ---: |");
        println!("| one vote, its tally and its push | {} |", total.per(ROUNDS).row());
        println!("| API Gateway messages (frames) | {:.0} | | | |", frames as f64 / ROUNDS as f64);
    }
}
