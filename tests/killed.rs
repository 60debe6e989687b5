//! Functions killed mid-work, on a local stack whose AWS calls go through the AWS proxy
//! (`make test` runs this binary alone, one test at a time, after the faults scenario, on
//! that stack): the proxy holds a write, the test kills the process that sent it
//! (SIGKILL, as Lambda ends a sandbox), then releases the write, which reaches DynamoDB
//! late, as a write still in flight from a dead sandbox may.
//!
//! The tally: 100 new ballots reach `tally` in a batch; the proxy lets the batch's first counter
//! write through and holds the next one, so the batch is half folded when the test kills
//! the `tally` process that sent it (SIGKILL, as Lambda ends a sandbox). Its invocation
//! never answers, so it ends at the function's timeout and counts as failed, as in
//! Lambda; the stream player retries the batch on another instance. Then the held write
//! of the dead process reaches DynamoDB after all, late, as a write still in flight from
//! a dead sandbox may. Each ballot counts once (tally == recount == expected), the
//! hourly statistics agree, and DynamoDB refused the late write (its watermark moved).

use std::{collections::HashMap, time::Duration};

use ballot_core::{access::Role, counting::Tally};
use ballot_tests::{
    Receiver, assert_recounted, call, eventually, guest_tokens, local_store, proxy, register_webhook, token_for_account,
};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const VOTERS: usize = 100;

async fn vote(poll: &str, token: &str, option: &str) -> u16 {
    let request = call("POST", &format!("/v1/polls/{poll}/votes"), token).json(&json!({"option_ids": [option]}));
    request.send().await.unwrap().status().as_u16()
}

/// Waits for a held call whose sender still runs, checks that process `name` sent it and
/// kills that process. (The SDK gives up an attempt after 2 s and closes its connection;
/// its retry is then held in turn, so the newest held call is the one to look at.)
async fn kill_the_sender_of_a_held_call(name: &str) {
    let live_sender = async || {
        let held = proxy::faults().await["held"].as_array().unwrap().clone();
        held.iter().rev().find_map(|call| proxy::sender_of(call["peer"].as_str()?))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (pid, sender) = loop {
        if let Some(found) = live_sender().await {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "a {name} write is held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(sender, name, "the held write is {name}'s");
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(killed.success(), "{name} (pid {pid}) killed");
}

/// Releases the held calls (the dead process's write, and its retries if an attempt had
/// timed out before the kill); what DynamoDB answered each (`status`, `code`).
async fn release_the_held_calls() -> Vec<Value> {
    let held = proxy::release().await as usize;
    assert!(held >= 1, "the dead process's write was still in flight");
    let released = async || proxy::faults().await["released"].as_array().unwrap().clone();
    assert!(eventually(Duration::from_secs(10), async || released().await.len() == held).await, "released");
    released().await
}

#[tokio::test]
async fn given_the_tally_killed_mid_batch_with_a_write_in_flight_then_each_ballot_counts_once() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let body = json!({"question": "Killed?", "options": [{"text": "a"}, {"text": "b"}, {"text": "c"}],
        "allow_guests": true});
    let poll: Value = call("POST", "/v1/polls", &editor).json(&body).send().await.unwrap().json().await.unwrap();
    let id = poll["id"].as_str().unwrap().to_owned();
    let options: Vec<String> =
        poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    let voters = guest_tokens(VOTERS + 1).await;
    // The first ballot marks the poll's voting started (its one UpdateItem) and is
    // tallied before the fault is set; the hold then takes only updates of the poll's
    // tally items (`#TALLY` in the key): the tally's counter writes.
    assert_eq!(vote(&id, &voters[0], &options[0]).await, 201);
    assert_recounted(&id).await;

    let hold = json!({"services": ["dynamodb"], "operations": ["UpdateItem"], "key_contains": "#TALLY",
        "kinds": ["hold"], "share": 1.0, "after": 1});
    proxy::set_faults(Some(hold)).await;
    let votes = stream::iter(voters.iter().enumerate().skip(1))
        .map(|(i, token)| vote(&id, token, &options[i % 3]))
        .buffer_unordered(25)
        .collect::<Vec<u16>>();
    let (statuses, ()) = tokio::join!(votes, kill_the_sender_of_a_held_call("tally"));
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    proxy::set_faults(None).await;

    let mut expected = Tally { total: VOTERS as u64 + 1, votes: HashMap::new() };
    for i in 0..=VOTERS {
        *expected.votes.entry(options[i % 3].clone()).or_default() += 1;
    }
    let store = local_store().await;
    let counted = async || store.tallied(&id).await.unwrap() == expected;
    // The killed invocation ends at the tally's 60 s timeout; the retry then counts.
    assert!(eventually(Duration::from_secs(150), counted).await, "tallied: {:?}", store.tallied(&id).await);

    let refused = release_the_held_calls().await;
    let all_refused = refused.iter().all(|call| call["code"] == "ConditionalCheckFailedException");
    assert!(all_refused, "the late writes changed nothing: {refused:?}");
    assert_recounted(&id).await;
    assert_eq!(store.tallied(&id).await.unwrap(), expected, "each ballot counts once");
    let hours = store.hourly_stats(&id).await.unwrap();
    let cast: u64 = hours.iter().map(|h| h.votes_cast).sum();
    assert_eq!(cast, VOTERS as u64 + 1, "the hourly statistics count each ballot once: {hours:?}");
}

/// The vote path killed after it sent its ballot's `PutItem` and before it answered: the
/// write commits (late), the voter never hears, and the ballot's `vote.cast` still
/// reaches the webhook, from the ballot's stream record, with the id of its first
/// version. (The vote path sends nothing itself, so there is nothing it could lose.)
#[tokio::test]
async fn given_the_vote_path_killed_before_it_answered_when_its_ballot_lands_then_its_vote_cast_is_delivered() {
    let receiver = Receiver::start(&[204]).await;
    let editor = token_for_account(&[Role::Editor]).await.0;
    let body = json!({"question": "Died?", "options": [{"text": "a"}, {"text": "b"}], "allow_guests": true});
    let poll: Value = call("POST", "/v1/polls", &editor).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][1]["id"].as_str().unwrap().to_owned());
    register_webhook(&editor, &id, &receiver.url, &["vote.cast"]).await;
    let voter = guest_tokens(1).await.remove(0);

    let hold = json!({"services": ["dynamodb"], "operations": ["PutItem"], "kinds": ["hold"], "share": 1.0});
    proxy::set_faults(Some(hold)).await;
    let request = call("POST", &format!("/v1/polls/{id}/votes"), &voter).json(&json!({"option_ids": [option]}));
    let unanswered = tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    kill_the_sender_of_a_held_call("cast-vote").await;
    proxy::set_faults(None).await;
    let landed = release_the_held_calls().await;
    let committed = landed.iter().filter(|call| call["status"] == 200 && call["code"].is_null()).count();
    assert_eq!(committed, 1, "the ballot committed once: {landed:?}");

    let requests = receiver.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(requests.len(), 1, "the committed ballot is announced");
    let event: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(event["type"], "vote.cast");
    assert_eq!(event["id"].as_str(), requests[0].headers.get("webhook-id").map(String::as_str));
    assert_eq!(event["data"]["option_ids"], json!([option]));
    let answer = unanswered.await.unwrap();
    assert!(!matches!(answer, Ok(200 | 201)), "the voter was never told it counted: {answer:?}");
}
