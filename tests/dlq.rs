//! Poison messages and `make dlq-replay`: a poisoned message fails alone, reaches the
//! dead-letter queue after `maxReceiveCount` receives, and replay brings it back, body
//! and attributes intact, none lost. Runs against the local stack's SQS on queues of its
//! own, fed by the local event-source poller to the real `poll-events` function.

use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use ballot_local::bootstrap::Clients;
use ballot_tests::{invoke_api, template};
use serde_json::{Value, json};

/// A new queue with a dead-letter queue after `max_receives`; returns (queue, dlq) URLs.
async fn queue_pair(sqs: &aws_sdk_sqs::Client, max_receives: u64, visibility_secs: u32) -> (String, String) {
    let suffix = ballot_core::ids::random_id().replace(['-', '_'], "x");
    let dlq = sqs.create_queue().queue_name(format!("dlq-test-dead-{suffix}")).send().await.unwrap().queue_url.unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(format!("dlq-test-{suffix}"))
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (queue, dlq)
}

/// The bodies of every message `queue` holds now (received, so hidden for a while).
async fn drain(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        bodies.extend(messages.iter().map(|m| m.body().unwrap_or_default().to_owned()));
    }
}

#[tokio::test]
async fn given_a_batch_with_messages_2_and_4_poisoned_then_only_they_fail_reach_the_dlq_and_replay_returns_them() {
    let event = |n: u32| {
        json!({"id": format!("evt_poison_{n}_{}", ballot_core::ids::random_id()), "type": "poll.closed",
               "poll_id": "no-such-poll", "occurred_at": "2027-01-01T00:00:00Z", "data": {}})
        .to_string()
    };
    let bodies = [event(1), "{not json".to_owned(), event(3), event(4).replace("poll.closed", "poll.eaten"), event(5)];
    let template = template();
    let source =
        template.sqs_event_sources().unwrap().into_iter().find(|s| s.binary == "poll-events").expect("poll-events");
    let invoker = ballot_local::invoke::Invoker::new(&invoke_api(), Duration::from_secs(60));

    // One batch of 5 straight to the function: exactly messages 2 and 4 are reported.
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m{}", i + 1), "receiptHandle": "r", "body": body, "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}))
        .collect();
    let response = invoker.invoke("poll-events", &json!({"Records": records})).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([{"itemIdentifier": "m2"}, {"itemIdentifier": "m4"}]));

    // Through a queue with the events queue's redrive policy, polled as Lambda would.
    let max_receives =
        template.resource("EventsQueue").unwrap()["Properties"]["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
    let sqs = Clients::from_env().await.sqs;
    let (queue, dlq) = queue_pair(&sqs, max_receives, 1).await;
    for body in &bodies {
        sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    }
    let poller = ballot_local::event_sources::Poller {
        source,
        queue_url: queue.clone(),
        queue_arn: String::new(),
        region: "us-east-1".into(),
        sqs: sqs.clone(),
        invoker,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut receives = 0;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the poisoned messages never reached the DLQ");
        receives += usize::from(poller.poll_once().await.unwrap() > 0);
        let dead = sqs
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::ApproximateNumberOfMessages]
            .clone();
        if dead == "2" {
            break;
        }
    }
    assert!(receives as u64 >= max_receives, "{receives} receives");
    let out =
        sqs.receive_message().queue_url(&dlq).max_number_of_messages(10).visibility_timeout(0).send().await.unwrap();
    let mut dead: Vec<String> = out.messages.unwrap_or_default().iter().map(|m| m.body().unwrap().to_owned()).collect();
    dead.sort();
    let mut poisoned = vec![bodies[1].clone(), bodies[3].clone()];
    poisoned.sort();
    assert_eq!(dead, poisoned, "exactly the poisoned messages are dead letters");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(drain(&sqs, &queue).await.is_empty(), "the good messages were consumed");

    assert_eq!(ballot_local::ops::replay_dead_letters(&sqs, &queue).await.unwrap(), 2);
    let mut back = drain(&sqs, &queue).await;
    back.sort();
    assert_eq!(back, poisoned);
}

#[tokio::test]
async fn given_dead_letters_when_replayed_then_every_one_is_back_in_its_queue() {
    let sqs = Clients::from_env().await.sqs;
    let (queue, dlq) = queue_pair(&sqs, 5, 30).await;
    let kind = MessageAttributeValue::builder().data_type("String").string_value("vote.cast").build().unwrap();
    for i in 0..23 {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("message {i}"))
            .message_attributes("type", kind.clone())
            .send()
            .await
            .unwrap();
    }

    let moved = ballot_local::ops::replay_dead_letters(&sqs, &queue).await.unwrap();
    assert_eq!(moved, 23);

    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            assert_eq!(message.message_attributes().unwrap()["type"].string_value(), Some("vote.cast"));
            bodies.push(message.body().unwrap().to_owned());
        }
    }
    bodies.sort_by_key(|b| b.trim_start_matches("message ").parse::<u32>().unwrap());
    assert_eq!(bodies, (0..23).map(|i| format!("message {i}")).collect::<Vec<_>>());
    // Replay hides what it reads; counting the hidden ones too catches one that was not deleted.
    assert_eq!(ballot_tests::queue_depth(&sqs, &dlq).await, (0, 0), "the dead-letter queue is empty");
    assert_eq!(ballot_local::ops::replay_dead_letters(&sqs, &queue).await.unwrap(), 0, "a second replay moves nothing");
}
