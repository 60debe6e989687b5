//! `tally-freshness` (run by `make bench` against the local stack it starts,
//! `infra/bench.sh`): how long after a vote is answered the stream tally has counted it,
//! p50/p99, over votes cast one at a time. The stack plays the stream with the template's
//! batching window (1 s), as Lambda would. The count items are read directly, strongly
//! consistent, every 10 ms.

use std::time::{Duration, Instant};

use ballot_core::access::Role;
use ballot_load::percentiles;
use ballot_tests::{call, guest_tokens, local_store, post_as, token_for};
use serde_json::json;

const VOTES: usize = 50;

#[tokio::main]
async fn main() {
    let editor = token_for(&[Role::Editor]).await;
    let body = json!({"question": "How fresh?", "options": [{"text": "a"}, {"text": "b"}], "allow_guests": true});
    let poll = post_as(&editor, "/v1/polls", &body).await;
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned());
    let store = local_store().await;
    let mut delays = Vec::new();
    for (n, token) in guest_tokens(VOTES).await.into_iter().enumerate() {
        let vote = call("POST", &format!("/v1/polls/{id}/votes"), &token).json(&json!({"option_ids": [option]}));
        let response = vote.send().await.unwrap();
        assert_eq!(response.status(), 201, "a vote failed");
        let answered = Instant::now();
        while store.tallied(&id).await.unwrap().total < n as u64 + 1 {
            assert!(answered.elapsed() < Duration::from_secs(60), "vote {n} was not tallied within a minute");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        delays.push(answered.elapsed());
    }
    let (p50, p99) = percentiles(&mut delays);
    println!("| stream tally on the local stack | p50 | p99 | votes |\n| :--- | ---: | ---: | ---: |");
    println!("| vote answered → counted by the tally | {p50:.1} ms | {p99:.1} ms | {VOTES} |");
}
