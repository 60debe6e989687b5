//! The stream tally end to end: votes through the local gateway are written by
//! `cast-vote`, carried by the table's stream (played by the local gateway with the
//! template's batching, filter and tumbling window) to the `tally` function, and folded
//! into the poll's count items, which results read: once the stream has caught up they
//! say what a recount of the ballots says; a tally made short is found and repaired by
//! the recount.

use std::collections::HashMap;

use ballot_core::access::Role;
use ballot_tests::{assert_recounted, call, guest_tokens, local_store, token_for_account};
use futures::future::join_all;
use serde_json::{Value, json};

async fn results(poll_id: &str, token: &str) -> (u64, HashMap<String, u64>) {
    let body: Value =
        call("GET", &format!("/v1/polls/{poll_id}/results"), token).send().await.unwrap().json().await.unwrap();
    let votes = body["options"].as_array().unwrap().iter();
    let votes = votes.filter(|o| o["votes"].as_u64() > Some(0));
    let votes = votes.map(|o| (o["id"].as_str().unwrap().to_owned(), o["votes"].as_u64().unwrap())).collect();
    (body["total_ballots"].as_u64().unwrap(), votes)
}

#[tokio::test]
async fn given_votes_and_changes_when_the_stream_is_tallied_then_the_count_items_agree_with_the_results() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let body = json!({"question": "Streamed?", "options": [{"text": "a"}, {"text": "b"}, {"text": "c"}],
        "allow_guests": true, "allow_vote_change": true});
    let poll: Value = call("POST", "/v1/polls", &editor).json(&body).send().await.unwrap().json().await.unwrap();
    let id = poll["id"].as_str().unwrap().to_owned();
    let options: Vec<String> =
        poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().into()).collect();
    let voters = guest_tokens(40).await;
    let cast = |token: &str, option: &str| {
        let request = call("POST", &format!("/v1/polls/{id}/votes"), token).json(&json!({"option_ids": [option]}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let statuses = join_all(voters.iter().enumerate().map(|(i, t)| cast(t, &options[i % 3]))).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    // Every fourth voter changes to c (those who had c vote the same again).
    let changes = join_all(voters.iter().step_by(4).map(|t| cast(t, &options[2]))).await;
    assert!(changes.iter().all(|s| *s == 200), "{changes:?}");
    assert_recounted(&id).await;
    let (total, votes) = results(&id, &editor).await;
    assert_eq!(total, 40);
    let store = local_store().await;
    let tallied = store.tallied(&id).await.unwrap();
    assert_eq!((tallied.total, &tallied.votes), (total, &votes), "results are the count items");

    // A batch lost to the on-failure destination leaves the tally short: the recount
    // finds it, and --repair puts it right.
    let lost = ballot_core::tally::Delta {
        counters: [("total".to_owned(), -2), (format!("o_{}", options[0]), -2)].into(),
        last: ballot_core::tally::Seq::parse("1").unwrap(),
    };
    let item = ballot_core::tally::Item::Counts { poll_id: id.clone(), bucket: 9 };
    ballot_core::ports::TallyItems::apply(&store, &item, "shardId-lost", None, &lost, &[], 0).await.unwrap();
    let found = ballot_local::ops::recount(&store, &id, false).await.unwrap();
    assert_eq!((found.recounted.total, found.tallied.total, found.repaired), (40, 38, false));
    assert!(ballot_local::ops::recount(&store, &id, true).await.unwrap().repaired);
    let again = ballot_local::ops::recount(&store, &id, false).await.unwrap();
    assert_eq!(again.recounted, again.tallied);
    assert_eq!(again.tallied.total, 40);
}
