//! Exactly once under faults, on a local stack whose functions reach moto through the AWS
//! proxy (`make test` runs this binary alone, on such a stack): 10 % of the AWS calls of
//! every function, the stream player and the consumers are answered with the service's
//! throttling or server error, or reach moto and then lose their answer (the write
//! commits, the caller sees a failure and retries). Voters retry whatever is not answered
//! 201/200, as a client would. Then no ballot is lost, none is counted twice, every
//! ballot answered 201/200 counts with the picks it was answered with, and the webhook
//! receiver sees each `vote.cast` and `vote.changed` id (after de-duplication) exactly once.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use ballot_core::{access::Role, counting::Tally};
use ballot_tests::{
    Receiver, assert_recounted, call, guest_tokens, local_store, proxy, register_webhook, token_for_account,
};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const VOTERS: usize = 1_000;
const CHANGING: usize = 300;
const AT_ONCE: usize = 100;

/// Sends `token`'s vote for `option` until it is answered 201 or 200 (what a client does
/// with a 5xx or 429); that status.
async fn vote_until_answered(poll: &str, token: &str, option: &str) -> u16 {
    for attempt in 0..30u64 {
        let sent = call("POST", &format!("/v1/polls/{poll}/votes"), token)
            .json(&json!({"option_ids": [option]}))
            .timeout(Duration::from_secs(40))
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            if status == 200 || status == 201 {
                return status;
            }
            assert!(status >= 500 || status == 429, "a vote refused for good: {status} {:?}", response.text().await);
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1).min(10))).await;
    }
    panic!("a vote was never answered");
}

// Several threads: the webhook receiver must keep answering while 100 votes are in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_10_percent_of_aws_calls_failing_when_1000_voters_vote_and_300_change_then_each_counts_and_is_announced_once()
 {
    let receiver = Receiver::start(&[204]).await;
    let editor = token_for_account(&[Role::Editor]).await.0;
    let body = json!({"question": "Faults?", "options": [{"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "d"}],
        "allow_guests": true, "allow_vote_change": true});
    let poll: Value = call("POST", "/v1/polls", &editor).json(&body).send().await.unwrap().json().await.unwrap();
    let id = poll["id"].as_str().unwrap().to_owned();
    let options: Vec<String> =
        poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    register_webhook(&editor, &id, &receiver.url, &["vote.cast", "vote.changed"]).await;
    let voters = guest_tokens(VOTERS).await;

    proxy::set_faults(Some(
        json!({"share": 0.1, "kinds": ["throttle", "error", "timeout_after"], "timeout_ms": 300, "seed": 13}),
    ))
    .await;
    let first: Vec<u16> = stream::iter(voters.iter().enumerate())
        .map(|(i, token)| vote_until_answered(&id, token, &options[i % 4]))
        .buffered(AT_ONCE)
        .collect()
        .await;
    let changed: Vec<u16> = stream::iter(voters.iter().enumerate().take(CHANGING))
        .map(|(i, token)| vote_until_answered(&id, token, &options[(i + 1) % 4]))
        .buffered(AT_ONCE)
        .collect()
        .await;
    let injected = proxy::faults().await;
    proxy::set_faults(None).await;

    let count: u64 = injected["injected"].as_object().unwrap().values().filter_map(Value::as_u64).sum();
    assert!(count > 100, "faults were injected: {injected}");
    // A retry may find the ballot an earlier attempt wrote before its answer was lost: 200.
    assert!(first.iter().all(|s| *s == 201 || *s == 200), "{first:?}");
    assert!(changed.iter().all(|s| *s == 200), "{changed:?}");
    let mut expected = Tally { total: VOTERS as u64, votes: HashMap::new() };
    for i in 0..VOTERS {
        let pick = if i < CHANGING { (i + 1) % 4 } else { i % 4 };
        *expected.votes.entry(options[pick].clone()).or_default() += 1;
    }
    assert_recounted(&id).await;
    assert_eq!(local_store().await.tallied(&id).await.unwrap(), expected, "every answered ballot counts, once");

    // One event per ballot write: a cast per voter, a change per changing voter. Their
    // ids come from the stream records, so nothing here can compute them: count them.
    let want = VOTERS + CHANGING;
    // The deliveries trail the votes by minutes on a loaded machine (moto, behind the
    // proxy, takes every call of 1,300 events at tens of calls a second): wait while they
    // keep arriving, and call the rest lost after 420 s without a new one (longer than a
    // message stays away when it failed and its consumer's backoff call failed too: the
    // events queue's 370 s visibility).
    let (mut last_len, mut last_new) = (0, tokio::time::Instant::now());
    let seen = loop {
        let seen: HashSet<String> = receiver.requests().iter().map(|r| r.headers["webhook-id"].clone()).collect();
        if seen.len() > last_len {
            (last_len, last_new) = (seen.len(), tokio::time::Instant::now());
        }
        if seen.len() >= want || last_new.elapsed() > Duration::from_secs(420) {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(seen.len(), want, "each event once, none lost");
    let mut kinds: HashMap<String, (String, usize)> = HashMap::new();
    for request in receiver.requests() {
        let event: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let kind = event["type"].as_str().unwrap().to_owned();
        let entry = kinds.entry(request.headers["webhook-id"].clone()).or_insert((kind.clone(), 0));
        assert_eq!(entry.0, kind, "a redelivered id announces the same event");
        entry.1 += 1;
    }
    let casts = kinds.values().filter(|(kind, _)| kind == "vote.cast").count();
    assert_eq!((casts, kinds.len() - casts), (VOTERS, CHANGING), "a cast per voter, a change per changing voter");
}
