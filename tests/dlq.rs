//! `make dlq-replay`: dead letters go back to their queue, bodies and attributes intact,
//! and none is lost. Runs against the local stack's SQS, on queues of its own.

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use ballot_local::bootstrap::Clients;

#[tokio::test]
async fn given_dead_letters_when_replayed_then_every_one_is_back_in_its_queue() {
    let sqs = Clients::from_env().await.sqs;
    let suffix = shared::ids::random_id().replace(['-', '_'], "x");
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
    let policy = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(format!("dlq-test-{suffix}"))
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
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
    let left = sqs.receive_message().queue_url(&dlq).max_number_of_messages(10).send().await.unwrap();
    assert!(left.messages.unwrap_or_default().is_empty(), "the dead-letter queue is empty");
    assert_eq!(ballot_local::ops::replay_dead_letters(&sqs, &queue).await.unwrap(), 0, "a second replay moves nothing");
}
