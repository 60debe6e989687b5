//! Closing polls at `closes_at` end to end: the schedule create-poll and update-poll put,
//! the local scheduler sending it to the events queue, the events consumer closing the
//! poll and announcing `poll.closed` to a webhook, once.

use std::time::Duration;

use ballot_core::{
    access::Role,
    closing::{ClosingTime, schedule_name, schedule_prefix},
    webhooks::signature,
};
use ballot_core::{clock::Fixed, managing::close_when_due, polls::Status};
use ballot_tests::{
    Receiver, call, events_queue_url, eventually, items_of_poll, local_store, register_webhook, required_env,
    token_for_account, vote_as_new_viewer,
};
use serde_json::{Value, json};

/// What a test waits for at most: the schedule (which runs in the first whole minute at
/// or after `closes_at`), the consumers, the deliveries.
const PATIENCE: Duration = Duration::from_secs(150);

/// How long a repeated event may take behind one that was seen, before it is taken as not
/// delivered: the deliveries of one event are queued together and consumed in order.
const GRACE: Duration = Duration::from_secs(3);

/// A poll of a new editor closing in an hour: (owner token, poll id, closes_at).
async fn poll_closing_later() -> (String, String, u64) {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let closes_at = ballot_core::clock::epoch_secs() + 3600;
    let body =
        json!({"question": "Close?", "options": [{"text": "a"}, {"text": "b"}], "closes_at": rfc3339(closes_at)});
    let response = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let poll: Value = response.json().await.unwrap();
    (owner, poll["id"].as_str().unwrap().to_owned(), closes_at)
}

/// PATCHes poll `poll` at `version` with `change`; the status.
async fn patch(owner: &str, poll: &str, version: u64, change: Value) -> u16 {
    let response = call("PATCH", &format!("/v1/polls/{poll}"), owner)
        .header("if-match", format!("\"{version}\""))
        .json(&change)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// Moves poll `poll` (at `version`) to close `seconds` from now; the new closing time.
async fn close_in(owner: &str, poll: &str, version: u64, seconds: u64) -> u64 {
    let closes_at = ballot_core::clock::epoch_secs() + seconds;
    assert_eq!(patch(owner, poll, version, json!({"closes_at": rfc3339(closes_at)})).await, 200);
    closes_at
}

fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

fn epoch_of(rfc3339: &Value) -> u64 {
    let at = humantime::parse_rfc3339_weak(rfc3339.as_str().expect("a time")).expect("RFC 3339");
    at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
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

#[tokio::test]
async fn given_a_poll_closing_in_5_s_then_one_signed_poll_closed_is_delivered_and_results_freeze() {
    let receiver = Receiver::start(&[204]).await;
    let (owner, poll_id, _) = poll_closing_later().await;
    let (_, secret) = register_webhook(&owner, &poll_id, &receiver.url, &["poll.closed"]).await;
    let poll: Value = call("GET", &format!("/v1/polls/{poll_id}"), &owner).send().await.unwrap().json().await.unwrap();
    let option = poll["options"][0]["id"].as_str().unwrap().to_owned();
    vote_as_new_viewer(&poll_id, &option).await;
    let closes_at = close_in(&owner, &poll_id, 1, 5).await;
    assert_eq!(schedules_of(&poll_id).await, [schedule_name(&poll_id, closes_at, 2)], "the hour's schedule went");

    let requests = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(requests.len(), 1, "poll.closed delivered");
    let request = &requests[0];
    let (event_id, timestamp) = (&request.headers["webhook-id"], request.headers["webhook-timestamp"].parse().unwrap());
    let now = ballot_core::clock::epoch_secs();
    assert!(signature::verify(&secret, event_id, timestamp, &request.body, &request.headers["webhook-signature"], now));
    let event: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!((event["type"].as_str(), event["poll_id"].as_str()), (Some("poll.closed"), Some(poll_id.as_str())));
    assert_eq!((event["data"]["status"].as_str(), event["data"]["version"].as_u64()), (Some("closed"), Some(3)));
    assert!(epoch_of(&event["occurred_at"]) >= closes_at, "closed at its time, not before");
    assert_eq!(stored(&poll_id).await, (Status::Closed, 3), "the stored poll is closed");
    assert!(schedules_of(&poll_id).await.is_empty(), "the schedule deletes itself once it ran");

    // Frozen: no vote, the same results; closing by hand now changes nothing and announces
    // nothing, to the first webhook or to one added since.
    let (late, _) = token_for_account(&[Role::Viewer]).await;
    let refused =
        call("POST", &format!("/v1/polls/{poll_id}/votes"), &late).json(&json!({"option_ids": [option]})).send().await;
    assert_eq!(refused.unwrap().status(), 409);
    ballot_tests::assert_recounted(&poll_id).await;
    let results: Value =
        call("GET", &format!("/v1/polls/{poll_id}/results"), &owner).send().await.unwrap().json().await.unwrap();
    assert_eq!((results["status"].as_str(), results["total_ballots"].as_u64()), (Some("closed"), Some(1)));
    let added = Receiver::start(&[204]).await;
    register_webhook(&owner, &poll_id, &added.url, &["poll.closed"]).await;
    let closed: Value =
        call("POST", &format!("/v1/polls/{poll_id}/close"), &owner).send().await.unwrap().json().await.unwrap();
    assert_eq!(closed["version"], 3);
    tokio::time::sleep(GRACE).await;
    assert_eq!((receiver.requests().len(), added.requests().len()), (1, 0), "exactly one poll.closed, {event_id}");
}

#[tokio::test]
async fn given_a_poll_closed_by_hand_before_its_time_then_it_is_announced_once_and_its_schedule_changes_nothing() {
    let receiver = Receiver::start(&[204]).await;
    let (owner, poll_id, _) = poll_closing_later().await;
    register_webhook(&owner, &poll_id, &receiver.url, &["poll.closed"]).await;
    // Far enough ahead that its schedule runs after the closes below.
    close_in(&owner, &poll_id, 1, 20).await;
    let close = || call("POST", &format!("/v1/polls/{poll_id}/close"), &owner).send();
    assert_eq!(close().await.unwrap().status(), 200);
    let first = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(first.len(), 1, "closing by hand announces it");
    let event: Value = serde_json::from_slice(&first[0].body).unwrap();
    assert_eq!((event["type"].as_str(), event["data"]["version"].as_u64()), (Some("poll.closed"), Some(3)));

    // Changed since, closed again: nothing to announce. The schedule runs later and
    // finds the poll closed: nothing changes, nothing is announced.
    assert_eq!(patch(&owner, &poll_id, 3, json!({"allow_vote_change": true})).await, 200);
    assert_eq!(close().await.unwrap().status(), 200);
    assert!(!schedules_of(&poll_id).await.is_empty(), "the schedule has not run yet");
    assert!(eventually(PATIENCE, || async { schedules_of(&poll_id).await.is_empty() }).await, "the schedule ran");
    tokio::time::sleep(GRACE).await;
    assert_eq!(receiver.requests().len(), 1, "one poll.closed");
    assert_eq!(stored(&poll_id).await, (Status::Closed, 4), "the schedule changed nothing");
}

#[tokio::test]
async fn given_new_closing_times_then_only_the_latest_is_scheduled_and_the_poll_closes_then() {
    let receiver = Receiver::start(&[204]).await;
    let (owner, poll_id, first) = poll_closing_later().await;
    register_webhook(&owner, &poll_id, &receiver.url, &["poll.closed"]).await;
    assert_eq!(schedules_of(&poll_id).await, [schedule_name(&poll_id, first, 1)]);
    // Away and back: the first time is scheduled again, under the version that set it.
    assert_eq!(patch(&owner, &poll_id, 1, json!({"closes_at": rfc3339(first + 3600)})).await, 200);
    assert_eq!(patch(&owner, &poll_id, 2, json!({"closes_at": rfc3339(first)})).await, 200);
    assert_eq!(schedules_of(&poll_id).await, [schedule_name(&poll_id, first, 3)], "older versions' went");
    // A change refused for another field schedules nothing.
    let refused = json!({"closes_at": rfc3339(first + 60), "question": ""});
    assert_eq!(patch(&owner, &poll_id, 3, refused).await, 400);
    assert_eq!(schedules_of(&poll_id).await, [schedule_name(&poll_id, first, 3)], "nothing scheduled");

    let closes_at = close_in(&owner, &poll_id, 3, 6).await;
    assert_eq!(schedules_of(&poll_id).await, [schedule_name(&poll_id, closes_at, 4)]);
    let requests = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(requests.len(), 1);
    let event: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert!(epoch_of(&event["occurred_at"]) >= closes_at, "closed at the new time");
    tokio::time::sleep(GRACE).await;
    assert_eq!(receiver.requests().len(), 1, "exactly one poll.closed");
    assert_eq!(stored(&poll_id).await, (Status::Closed, 5));
}

#[tokio::test]
async fn given_a_closing_time_removed_then_its_schedule_goes_and_the_poll_stays_open() {
    let (owner, poll_id, _) = poll_closing_later().await;
    assert_eq!(patch(&owner, &poll_id, 1, json!({"closes_at": null})).await, 200);
    assert!(schedules_of(&poll_id).await.is_empty());
    let stored = local_store().await.poll(&poll_id, true).await.unwrap().expect("the poll");
    assert_eq!((stored.poll.status, stored.poll.closes_at), (Status::Open, None));
}

#[tokio::test]
async fn given_stale_or_early_closing_times_then_nothing_closes() {
    let now = ballot_core::clock::epoch_secs();
    let (_, other, _) = poll_closing_later().await;
    let (_, early, closes_at) = poll_closing_later().await;
    // The control, sent last: its own closing time, due within the early grace, and no
    // schedule of its own, so only the message closes it.
    let (owner, control, _) = poll_closing_later().await;
    let control_closes_at = close_in(&owner, &control, 1, 5).await;
    let clients = ballot_local::bootstrap::Clients::from_env().await;
    let group = format!("{}-ClosingSchedules", required_env("BALLOT_STACK"));
    let schedule = schedule_name(&control, control_closes_at, 2);
    clients.scheduler.delete_schedule().group_name(group).name(schedule).send().await.unwrap();
    let sqs = clients.sqs;
    let queue = events_queue_url(&sqs).await;
    let messages = [
        ClosingTime { closing_poll: other.clone(), closes_at: now - 60 },
        ClosingTime { closing_poll: "no-such-poll".into(), closes_at: now - 60 },
        ClosingTime { closing_poll: early.clone(), closes_at },
        ClosingTime { closing_poll: control.clone(), closes_at: control_closes_at },
    ];
    for message in messages {
        let body = serde_json::to_string(&message).unwrap();
        sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    }
    let closed = eventually(PATIENCE, || async { stored(&control).await.0 == Status::Closed }).await;
    assert!(closed, "the control closes: the messages before it were taken");
    tokio::time::sleep(GRACE).await;
    assert_eq!(stored(&other).await, (Status::Open, 1), "another closing time changes nothing");
    assert_eq!(stored(&early).await, (Status::Open, 1), "nor does the right one an hour early");
}

/// The ARN of the local stack's queue of template resource `logical_id`.
async fn queue_arn(sqs: &aws_sdk_sqs::Client, logical_id: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let url = ballot_tests::queue_url(sqs, logical_id).await;
    let out = sqs.get_queue_attributes().queue_url(url).attribute_names(QueueArn).send().await.unwrap();
    out.attributes().and_then(|a| a.get(&QueueArn)).cloned().expect("an ARN")
}

#[tokio::test]
async fn given_a_poll_closing_later_then_its_schedule_targets_the_events_queue_and_its_dlq() {
    use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
    let (_, poll_id, closes_at) = poll_closing_later().await;
    let clients = ballot_local::bootstrap::Clients::from_env().await;
    let schedule = clients
        .scheduler
        .get_schedule()
        .group_name(format!("{}-ClosingSchedules", required_env("BALLOT_STACK")))
        .name(schedule_name(&poll_id, closes_at, 1))
        .send()
        .await
        .unwrap();
    let fires_at = ballot_core::closing::at_expression(ballot_core::closing::fires_at(closes_at));
    assert_eq!(schedule.schedule_expression(), Some(fires_at.as_str()), "the next whole minute");
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(schedule.flexible_time_window().map(|w| w.mode()), Some(&FlexibleTimeWindowMode::Off));
    assert_eq!(schedule.action_after_completion(), Some(&ActionAfterCompletion::Delete));
    let target = schedule.target().expect("a target");
    assert_eq!(target.arn(), queue_arn(&clients.sqs, "EventsQueue").await);
    let dead_letters = target.dead_letter_config().and_then(|d| d.arn());
    assert_eq!(dead_letters, Some(queue_arn(&clients.sqs, "EventsDeadLetterQueue").await.as_str()));
    let input: ClosingTime = serde_json::from_str(target.input().expect("an input")).unwrap();
    assert_eq!(input, ClosingTime { closing_poll: poll_id, closes_at });
}

#[tokio::test]
async fn given_a_deleted_poll_then_its_closing_schedule_is_removed_with_its_items() {
    let (owner, poll_id, _) = poll_closing_later().await;
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
async fn given_a_closing_time_run_twice_then_it_closes_the_poll_once() {
    let (_, poll_id, closes_at) = poll_closing_later().await;
    let due = ClosingTime { closing_poll: poll_id, closes_at };
    let store = local_store().await;
    let far_ahead = closes_at - ballot_core::closing::EARLY_GRACE_SECS - 1;
    assert!(!close_when_due(&store, &Fixed::at(far_ahead), &due).await.unwrap(), "not long before its time");
    assert!(close_when_due(&store, &Fixed::at(closes_at), &due).await.unwrap(), "closed");
    assert!(!close_when_due(&store, &Fixed::at(closes_at), &due).await.unwrap(), "a redelivery changes nothing");
    assert_eq!(stored(&due.closing_poll).await, (Status::Closed, 2), "closed once");
}
