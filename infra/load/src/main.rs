//! `vote-load` (run by `make bench` against the local stack it starts, `infra/bench.sh`): cast-vote latency
//! through the local gateway, as a client sees it (authorizer, function, moto), p50/p99:
//! - one voter at a time: each with a fresh guest token, so each vote also runs the
//!   authorizer once (its decision is cached per token afterwards);
//! - 16 voters at a time: latency under load, and votes/s.
//!
//! The stack is the development one (debug builds under `cargo lambda watch`, moto): the
//! numbers compare changes on this machine; they are not AWS figures.

use std::time::{Duration, Instant};

use ballot_core::access::Role;
use ballot_load::percentiles;
use ballot_tests::{api, client, guest_tokens, token_for};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const SEQUENTIAL: usize = 300;
const CONCURRENT: usize = 600;
const IN_FLIGHT: usize = 16;

#[tokio::main]
async fn main() {
    let editor = token_for(&[Role::Editor]).await;
    let poll: Value = client()
        .post(format!("{}/v1/polls", api()))
        .bearer_auth(&editor)
        .json(&json!({"question": "Load?", "options": [{"text": "a"}, {"text": "b"}, {"text": "c"}], "allow_guests": true}))
        .send()
        .await
        .expect("create a poll")
        .json()
        .await
        .expect("a poll");
    let id = poll["id"].as_str().expect("a poll id").to_owned();
    let options: Vec<String> =
        poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    let vote = |token: String, i: usize| {
        let (id, option) = (id.clone(), options[i % options.len()].clone());
        async move {
            let start = Instant::now();
            let response = client()
                .post(format!("{}/v1/polls/{id}/votes", api()))
                .bearer_auth(token)
                .json(&json!({"option_ids": [option]}))
                .send()
                .await
                .expect("vote");
            assert_eq!(response.status(), 201, "a vote failed");
            start.elapsed()
        }
    };
    let mut sequential = Vec::new();
    for (i, token) in guest_tokens(SEQUENTIAL).await.into_iter().enumerate() {
        sequential.push(vote(token, i).await);
    }
    let tokens = guest_tokens(CONCURRENT).await;
    let started = Instant::now();
    let concurrent: Vec<Duration> = stream::iter(tokens.into_iter().enumerate().map(|(i, t)| vote(t, i)))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let rate = CONCURRENT as f64 / started.elapsed().as_secs_f64();
    let (s50, s99) = percentiles(&mut sequential);
    let (c50, c99) = percentiles(&mut concurrent.clone());
    println!("| cast-vote through the local gateway | p50 | p99 | votes |\n| :--- | ---: | ---: | ---: |");
    println!("| one at a time | {:.1} ms | {:.1} ms | {SEQUENTIAL} |", s50, s99);
    println!("| {IN_FLIGHT} at a time ({rate:.0} votes/s) | {:.1} ms | {:.1} ms | {CONCURRENT} |", c50, c99);
}
