//! Closing polls at `closes_at` end to end: the schedule create-poll and update-poll put,
//! the local scheduler sending it to the events queue, the events consumer closing the
//! poll and announcing `poll.closed` to a webhook, once.

use std::time::Duration;

use ballot_tests::{
    Receiver, call, events_queue_url, items_of_poll, local_store, register_webhook, required_env, token_for_account,
    vote_as_new_viewer,
};
use serde_json::{Value, json};
use shared::{
    auth::Role,
    closing::{ClosingTime, schedule_name, schedule_prefix},
    polls::Status,
    webhooks::signature,
};

/// A poll of a new editor closing at `closes_at` (epoch seconds): (owner token, poll).
async fn poll_closing_at(closes_at: u64) -> (String, Value) {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let body =
        json!({"question": "Close?", "options": [{"text": "a"}, {"text": "b"}], "closes_at": rfc3339(closes_at)});
    let response = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    (owner, response.json().await.unwrap())
}

fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

fn id(poll: &Value) -> String {
    poll["id"].as_str().unwrap().to_owned()
}

/// The names of poll `poll`'s closing schedules on the local scheduler.
async fn schedules_of(poll: &str) -> Vec<String> {
    let scheduler = ballot_local::bootstrap::Clients::from_env().await.scheduler;
    let group = format!("{}-ClosingSchedules", required_env("BALLOT_STACK"));
    let listed = scheduler.list_schedules().group_name(group).name_prefix(schedule_prefix(poll)).send().await.unwrap();
    listed.schedules().iter().filter_map(|s| s.name().map(str::to_owned)).collect()
}

/// The stored status and version of a poll (not what readers are shown past `closes_at`).
async fn stored(poll: &str) -> (Status, u64) {
    let stored = local_store().await.poll(poll, true).await.unwrap().expect("the poll");
    (stored.poll.status, stored.poll.version)
}

/// Waits (up to `timeout`) until `check` holds; whether it did.
async fn eventually<F: Future<Output = bool>>(timeout: Duration, check: impl Fn() -> F) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    check().await
}

#[tokio::test]
async fn given_a_poll_closing_in_3_s_then_one_signed_poll_closed_is_delivered_and_results_freeze() {
    let receiver = Receiver::start(&[204]).await;
    let closes_at = shared::clock::epoch_secs() + 3;
    let (owner, poll) = poll_closing_at(closes_at).await;
    let (poll_id, option) = (id(&poll), poll["options"][0]["id"].as_str().unwrap().to_owned());
    assert_eq!(schedules_of(&poll_id).await, [schedule_name(&poll_id, closes_at)]);
    let (_, secret) = register_webhook(&owner, &poll_id, &receiver.url, &["poll.closed"]).await;
    vote_as_new_viewer(&poll_id, &option).await;

    let requests = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(requests.len(), 1, "poll.closed delivered");
    let request = &requests[0];
    let (event_id, timestamp) = (&request.headers["webhook-id"], request.headers["webhook-timestamp"].parse().unwrap());
    let now = shared::clock::epoch_secs();
    assert!(now >= closes_at, "not before closes_at");
    assert!(signature::verify(&secret, event_id, timestamp, &request.body, &request.headers["webhook-signature"], now));
    let event: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!((event["type"].as_str(), event["poll_id"].as_str()), (Some("poll.closed"), Some(poll_id.as_str())));
    assert_eq!((event["data"]["status"].as_str(), event["data"]["version"].as_u64()), (Some("closed"), Some(2)));
    assert_eq!(stored(&poll_id).await, (Status::Closed, 2), "the stored poll is closed");
    assert!(schedules_of(&poll_id).await.is_empty(), "the schedule deletes itself once it ran");

    // Frozen: no vote, the same results; closing by hand now changes and announces nothing.
    let (late, _) = token_for_account(&[Role::Viewer]).await;
    let refused =
        call("POST", &format!("/v1/polls/{poll_id}/votes"), &late).json(&json!({"option_ids": [option]})).send().await;
    assert_eq!(refused.unwrap().status(), 409);
    let results: Value =
        call("GET", &format!("/v1/polls/{poll_id}/results"), &owner).send().await.unwrap().json().await.unwrap();
    assert_eq!((results["status"].as_str(), results["total_ballots"].as_u64()), (Some("closed"), Some(1)));
    let closed: Value =
        call("POST", &format!("/v1/polls/{poll_id}/close"), &owner).send().await.unwrap().json().await.unwrap();
    assert_eq!(closed["version"], 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.requests().len(), 1, "exactly one poll.closed");
}

#[tokio::test]
async fn given_a_poll_closed_by_hand_before_its_time_then_poll_closed_is_announced_once() {
    let receiver = Receiver::start(&[204]).await;
    let closes_at = shared::clock::epoch_secs() + 3;
    let (owner, poll) = poll_closing_at(closes_at).await;
    let poll_id = id(&poll);
    register_webhook(&owner, &poll_id, &receiver.url, &["poll.closed"]).await;
    let response = call("POST", &format!("/v1/polls/{poll_id}/close"), &owner).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(receiver.wait_for(1, Duration::from_secs(30)).await.len(), 1, "closing by hand announces it");

    let ran = eventually(Duration::from_secs(30), || async { schedules_of(&poll_id).await.is_empty() }).await;
    assert!(ran, "the schedule ran");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(receiver.requests().len(), 1, "the schedule announced nothing more");
    assert_eq!(stored(&poll_id).await, (Status::Closed, 2), "and changed nothing");
}

#[tokio::test]
async fn given_a_new_closing_time_then_the_old_schedule_goes_and_the_poll_closes_at_the_new_one() {
    let receiver = Receiver::start(&[204]).await;
    let first = shared::clock::epoch_secs() + 3;
    let (owner, poll) = poll_closing_at(first).await;
    let poll_id = id(&poll);
    register_webhook(&owner, &poll_id, &receiver.url, &["poll.closed"]).await;
    let later = first + 4;
    let response = call("PATCH", &format!("/v1/polls/{poll_id}"), &owner)
        .header("if-match", "\"1\"")
        .json(&json!({"closes_at": rfc3339(later)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(schedules_of(&poll_id).await, [schedule_name(&poll_id, later)], "only the new time is scheduled");

    let requests = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(requests.len(), 1);
    assert!(shared::clock::epoch_secs() >= later, "closed at the new time");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.requests().len(), 1, "exactly one poll.closed");
    assert_eq!(stored(&poll_id).await, (Status::Closed, 3));
}

#[tokio::test]
async fn given_stale_closing_times_then_nothing_closes() {
    let now = shared::clock::epoch_secs();
    let (_, open) = poll_closing_at(now + 3600).await;
    let (_, closing) = poll_closing_at(now + 3600).await;
    let (open, closing) = (id(&open), id(&closing));
    let sqs = ballot_local::bootstrap::Clients::from_env().await.sqs;
    let queue = events_queue_url(&sqs).await;
    let messages = [
        ClosingTime { closing_poll: open.clone(), closes_at: now + 60 },
        ClosingTime { closing_poll: "no-such-poll".into(), closes_at: now + 3600 },
        // The control: the real closing time, early.
        ClosingTime { closing_poll: closing.clone(), closes_at: now + 3600 },
    ];
    for message in messages {
        let body = serde_json::to_string(&message).unwrap();
        sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    }
    let closed = eventually(Duration::from_secs(60), || async { stored(&closing).await.0 == Status::Closed }).await;
    assert!(closed, "the matching closing time closes its poll");
    assert_eq!(stored(&open).await, (Status::Open, 1), "another closing time changes nothing");
}

#[tokio::test]
async fn given_a_deleted_poll_then_its_closing_schedule_is_removed_with_its_items() {
    let (owner, poll) = poll_closing_at(shared::clock::epoch_secs() + 3600).await;
    let poll_id = id(&poll);
    assert_eq!(schedules_of(&poll_id).await.len(), 1);
    let response = call("DELETE", &format!("/v1/polls/{poll_id}"), &owner).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let store = local_store().await;
    let purged = eventually(Duration::from_secs(120), || async {
        schedules_of(&poll_id).await.is_empty() && items_of_poll(&store, &poll_id).await == 0
    })
    .await;
    assert!(purged, "schedule and items removed");
}

#[tokio::test]
async fn given_a_closing_retried_after_its_announcement_failed_then_it_announces_the_same_event() {
    let closes_at = shared::clock::epoch_secs() + 3600;
    let (_, poll) = poll_closing_at(closes_at).await;
    let due = ClosingTime { closing_poll: id(&poll), closes_at };
    let store = local_store().await;
    // The consumer's first try closes the poll; say its announcement then failed.
    let first = shared::closing::close(&store, &due).await.unwrap().expect("closed");
    let retried = shared::closing::close(&store, &due).await.unwrap().expect("announced again");
    assert_eq!((retried.id, retried.kind), (first.id, first.kind));
    assert_eq!(stored(&due.closing_poll).await, (Status::Closed, 2), "closed once");
}
