//! `vote-cost` (run by `make bench` against the local stack it starts, with the AWS proxy
//! in front of moto, `infra/bench.sh`): what votes cost **on the wire**, metered by the
//! proxy from the calls the functions really make (`infra/aws_proxy.py`; units priced by
//! DynamoDB's on-demand rules from the items' real sizes):
//! - 1,000 new voters, 100 at a time, on a four-option poll without webhooks and without
//!   `Idempotency-Key`: DynamoDB write and read units, DynamoDB calls and SQS messages
//!   per vote, the synchronous vote and the asynchronous work it causes together (the
//!   meter is read once the events queue is empty);
//! - apart: what an `Idempotency-Key` adds per vote, what a guest token from
//!   `POST /v1/auth/guest` costs (the voters above have tokens signed locally), and what
//!   a request costs more with an API key than with a token (the key's meter).

use std::time::Duration;

use ballot_core::access::Role;
use ballot_load::Meter;
use ballot_tests::{api, client, events_queue_url, eventually, guest_tokens, post_as, queue_depth, token_for};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const VOTERS: usize = 1_000;
const IN_FLIGHT: usize = 100;
const KEYED: usize = 100;
const GUESTS: usize = 10;
const KEY_READS: usize = 100;

async fn new_poll(editor: &str) -> (String, Vec<String>) {
    let options: Vec<Value> = ["a", "b", "c", "d"].iter().map(|t| json!({"text": t})).collect();
    let body = json!({"question": "What does a vote cost?", "options": options, "allow_guests": true});
    let poll = post_as(editor, "/v1/polls", &body).await;
    let ids = poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    (poll["id"].as_str().unwrap().to_owned(), ids)
}

/// Casts one vote each for `tokens` on `poll`, `IN_FLIGHT` at a time; with an
/// `Idempotency-Key` when `keyed`.
async fn vote_all(poll: &str, options: &[String], tokens: Vec<String>, keyed: bool) {
    let votes = tokens.into_iter().enumerate().map(|(i, token)| {
        let body = json!({"option_ids": [options[i % options.len()]]});
        async move {
            let mut request = client().post(format!("{}/v1/polls/{poll}/votes", api())).bearer_auth(token).json(&body);
            if keyed {
                request = request.header("idempotency-key", format!("cost-{i}"));
            }
            let status = request.send().await.unwrap().status();
            assert_eq!(status, 201, "a vote failed");
        }
    });
    stream::iter(votes).buffer_unordered(IN_FLIGHT).collect::<Vec<()>>().await;
}

/// Reads `poll`'s results `times` times with `credential` (a token or an API key).
async fn read_results(poll: &str, credential: &str, times: usize) {
    for _ in 0..times {
        let response = client().get(format!("{}/v1/polls/{poll}/results", api())).bearer_auth(credential).send().await;
        assert_eq!(response.unwrap().status(), 200, "a results read failed");
    }
}

/// Waits until the events queue is empty: every message the votes caused is consumed.
async fn settle() {
    let sqs = ballot_local::bootstrap::Clients::from_env().await.sqs;
    let queue = events_queue_url(&sqs).await;
    let drained = eventually(Duration::from_secs(300), || {
        let (sqs, queue) = (sqs.clone(), queue.clone());
        async move { queue_depth(&sqs, &queue).await == (0, 0) }
    })
    .await;
    assert!(drained, "the events queue did not drain");
}

#[tokio::main]
async fn main() {
    let meter = Meter::of_the_stack();
    let editor = token_for(&[Role::Editor]).await;
    let (poll, options) = new_poll(&editor).await;
    let tokens = guest_tokens(VOTERS + KEYED).await;
    settle().await;

    meter.reset().await;
    vote_all(&poll, &options, tokens[..VOTERS].to_vec(), false).await;
    settle().await;
    let plain = meter.spent().await;

    meter.reset().await;
    vote_all(&poll, &options, tokens[VOTERS..].to_vec(), true).await;
    settle().await;
    let keyed = meter.spent().await;

    meter.reset().await;
    for _ in 0..GUESTS {
        let status = client().post(format!("{}/v1/auth/guest", api())).send().await.unwrap().status();
        assert_eq!(status, 200, "a guest token was refused");
    }
    let guests = meter.spent().await;

    let key = post_as(&editor, "/v1/api-keys", &json!({"name": "cost", "scopes": ["results:read"]})).await;
    let key = key["key"].as_str().expect("an API key").to_owned();
    meter.reset().await;
    read_results(&poll, &editor, KEY_READS).await;
    let by_token = meter.spent().await;
    meter.reset().await;
    read_results(&poll, &key, KEY_READS).await;
    let by_key = meter.spent().await;

    let (vote, keyed, guest) = (plain.per(VOTERS), keyed.per(KEYED), guests.per(GUESTS));
    println!(
        "| on the wire, per vote ({VOTERS} new voters, {IN_FLIGHT} at a time, 4 options, no webhooks) | write units | read units | DynamoDB calls | SQS messages |"
    );
    println!("| :--- | ---: | ---: | ---: | ---: |");
    println!("| a vote, sync and async | {} |", vote.row());
    println!("| a vote with Idempotency-Key ({KEYED}), extra | {} |", keyed.minus(&vote).row());
    println!("| a guest token (POST /v1/auth/guest, {GUESTS}) | {} |", guest.row());
    let key_extra = by_key.per(KEY_READS).minus(&by_token.per(KEY_READS));
    println!("| a request with an API key ({KEY_READS} results reads), extra over a token's | {} |", key_extra.row());
}
