//! Deleting a poll with 5,000 ballots removes every item of it, even when the purge is
//! cut off half way: the poll is tombstoned and a purge is started and aborted at an
//! arbitrary point (as a killed consumer stops between two writes), then the owner's
//! `DELETE` announces `poll.deleted` again and the events consumer finishes the job.

use std::time::Duration;

use ballot_core::{
    access::Role,
    ballots::Voter,
    events::Event,
    ports::{Announce, Polls},
    voting::cast_vote,
};
use ballot_tests::{call, items_of_poll, local_store, token_for_account};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const BALLOTS: usize = 5_000;

/// The ballots are written through the vote use case, without announcing them.
struct Unannounced;

impl Announce for Unannounced {
    async fn publish(&self, _event: &Event) -> ballot_core::ports::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn given_a_poll_with_5000_ballots_when_its_purge_is_cut_off_then_the_retry_removes_every_item() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let body = json!({"question": "Purge?", "options": [{"text": "a"}, {"text": "b"}]});
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned());
    let store = local_store().await;
    stream::iter(0..BALLOTS)
        .for_each_concurrent(16, |n| {
            let (store, id, option) = (store.clone(), id.clone(), option.clone());
            async move {
                let sub = format!("purge-voter-{n}");
                let voter = Voter { sub: &sub, guest: false };
                let picks = [option.clone()];
                cast_vote(&store, &store, &Unannounced, &shared::clock::System, &id, voter, &picks).await.unwrap();
            }
        })
        .await;
    let before = items_of_poll(&store, &id).await;
    assert!(before > BALLOTS, "{before} items");

    // Tombstone, purge, and cut the purge off once a good part is gone.
    let stored = store.poll(&id, true).await.unwrap().unwrap();
    assert!(store.replace_poll(&stored, &stored, true).await.unwrap());
    let purge = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move { store.purge_poll(&id).await }
    });
    let cut_by = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if items_of_poll(&store, &id).await < before / 2 {
            break;
        }
        assert!(!purge.is_finished(), "the purge ended before it could be cut off");
        assert!(tokio::time::Instant::now() < cut_by, "the purge made no headway in 3 minutes");
    }
    purge.abort();
    let left = items_of_poll(&store, &id).await;
    assert!(left > 0, "part of the poll is left after the cut");

    // The owner deletes again: `poll.deleted` is announced again and the consumer finishes.
    let response = call("DELETE", &format!("/v1/polls/{id}"), &owner).send().await.unwrap();
    assert_eq!(response.status(), 204);
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
}
