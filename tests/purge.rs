//! Deleting a poll with 5,000 ballots removes every item of it, even with a purge cut
//! off half way beside it: the owner's `DELETE` leaves a tombstone, the tally relays
//! `poll.deleted` from its stream record and the events consumer purges; meanwhile a
//! second purge is started and aborted at an arbitrary point (as a killed consumer stops
//! between two writes). What it left half done, the other finishes.

use std::time::Duration;

use ballot_core::{access::Role, ballots::Voter, voting::cast_vote};
use ballot_tests::{call, eventually, items_of_poll, local_store, token_for_account};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const BALLOTS: usize = 5_000;

#[tokio::test]
async fn given_a_poll_with_5000_ballots_when_deleted_with_a_purge_cut_off_beside_it_then_every_item_goes() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let body = json!({"question": "Purge?", "options": [{"text": "a"}, {"text": "b"}]});
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned());
    let store = local_store().await;
    // The ballots are written through the vote use case, straight to the table.
    stream::iter(0..BALLOTS)
        .for_each_concurrent(16, |n| {
            let (store, id, option) = (store.clone(), id.clone(), option.clone());
            async move {
                let sub = format!("purge-voter-{n}");
                let voter = Voter { sub: &sub, guest: false, verified: true };
                let picks = [option.clone()];
                cast_vote(&store, &store, &shared::clock::System, &id, voter, &picks).await.unwrap();
            }
        })
        .await;
    let before = items_of_poll(&store, &id).await;
    assert!(before > BALLOTS, "{before} items");

    let response = call("DELETE", &format!("/v1/polls/{id}"), &owner).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let cut_off = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move { store.purge_poll(&id).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cut_off.abort();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let left = items_of_poll(&store, &id).await;
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} items of the poll are left");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(call("GET", &format!("/v1/polls/{id}"), &owner).send().await.unwrap().status(), 404);
    let again = call("DELETE", &format!("/v1/polls/{id}"), &owner).send().await.unwrap();
    assert_eq!(again.status(), 404, "purged: gone for its owner too");
}

/// A vote path whose cached copy of a poll (at most 1 s old) still showed it open writes
/// its ballot after the poll was deleted, and after the purge went by: the tally removes
/// that ballot as its stream record passes, so nothing of the poll is left.
#[tokio::test]
async fn given_a_ballot_written_after_the_purge_by_a_stale_vote_path_then_the_tally_removes_it() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let body = json!({"question": "Late?", "options": [{"text": "a"}, {"text": "b"}]});
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned());
    let store = local_store().await;
    let voter = Voter { sub: "on-time", guest: false, verified: true };
    cast_vote(&store, &store, &shared::clock::System, &id, voter, std::slice::from_ref(&option)).await.unwrap();
    assert_eq!(call("DELETE", &format!("/v1/polls/{id}"), &owner).send().await.unwrap().status(), 204);
    let purged = || async { items_of_poll(&store, &id).await == 0 };
    assert!(eventually(Duration::from_secs(60), purged).await, "the poll is purged");

    // What the stale vote path writes: the ballot put alone (its rules passed on the copy).
    let cast_at = ballot_core::clock::rfc3339_ms(ballot_core::clock::epoch_ms());
    let ballot = ballot_core::ballots::Ballot { poll_id: id.clone(), option_ids: vec![option], cast_at };
    let late = ballot_core::ports::Ballots::record_new(&store, "late", &ballot).await.unwrap();
    assert_eq!(late, ballot_core::ports::Recorded::Done);
    assert_eq!(items_of_poll(&store, &id).await, 1, "the late ballot was written");
    assert!(eventually(Duration::from_secs(60), purged).await, "the tally removed the late ballot");
}
