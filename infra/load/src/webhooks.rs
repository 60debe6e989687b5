//! `webhook-load` (run by `make bench` against the local stack it starts): the path of
//! an event, events queue → `poll-events` (fan-out, statistics) → deliveries queue →
//! `webhook-deliveries` → a receiver on 127.0.0.1:
//! - delay from a vote sent to its `vote.cast` delivered, one vote at a time, p50/p99;
//! - throughput: events put on the events queue at once, until every delivery arrived.
//!
//! The stack is the development one (debug builds, moto): the numbers compare changes on
//! this machine; they are not AWS figures.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use ballot_core::{
    access::Role,
    events::{Event, EventKind},
};
use ballot_load::percentiles;
use ballot_tests::{Receiver, call, events_queue_url, guest_tokens, token_for};
use serde_json::{Value, json};

const VOTES: usize = 100;
const EVENTS: usize = 1_000;

#[tokio::main]
async fn main() {
    let receiver = Receiver::start(&[204]).await;
    let editor = token_for(&[Role::Editor]).await;
    let body = json!({"question": "Hooks?", "options": [{"text": "a"}, {"text": "b"}], "allow_guests": true});
    let poll: Value = call("POST", "/v1/polls", &editor).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned());
    let hook = json!({"url": receiver.url, "events": ["vote.cast"]});
    let response = call("POST", &format!("/v1/polls/{id}/webhooks"), &editor).json(&hook).send().await.unwrap();
    assert_eq!(response.status(), 201, "register the webhook");

    let mut delays = Vec::new();
    for (i, token) in guest_tokens(VOTES).await.into_iter().enumerate() {
        let start = Instant::now();
        let vote = call("POST", &format!("/v1/polls/{id}/votes"), &token).json(&json!({"option_ids": [option]}));
        assert_eq!(vote.send().await.unwrap().status(), 201, "a vote failed");
        assert_eq!(receiver.wait_for(i + 1, Duration::from_secs(60)).await.len(), i + 1, "a delivery is missing");
        delays.push(start.elapsed());
    }

    let sqs = ballot_local::bootstrap::Clients::from_env().await.sqs;
    let queue = events_queue_url(&sqs).await;
    let events: Vec<String> = (0..EVENTS)
        .map(|n| {
            let event = Event {
                id: format!("evt_load_{n}_{}", ballot_core::ids::random_id()),
                kind: EventKind::VoteCast,
                poll_id: id.clone(),
                occurred_at: ballot_core::clock::rfc3339_now(),
                data: json!({"option_ids": [option], "cast_at": ballot_core::clock::rfc3339_now()}),
            };
            serde_json::to_string(&event).unwrap()
        })
        .collect();
    let started = Instant::now();
    for chunk in events.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build().unwrap()
            })
            .collect();
        sqs.send_message_batch().queue_url(&queue).set_entries(Some(entries)).send().await.unwrap();
    }
    let all = VOTES + EVENTS;
    assert_eq!(receiver.wait_for(all, Duration::from_secs(600)).await.len(), all, "deliveries are missing");
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();

    let (d50, d99) = percentiles(&mut delays);
    println!("| webhooks on the local stack | p50 | p99 | n |\n| :--- | ---: | ---: | ---: |");
    println!("| vote sent → `vote.cast` delivered | {d50:.1} ms | {d99:.1} ms | {VOTES} |");
    println!(
        "\n{EVENTS} events queued at once: every delivery in {:.1} s, {rate:.0} events/s (batches of 10).",
        started.elapsed().as_secs_f64()
    );
}
