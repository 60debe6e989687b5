//! SQS event-source mappings as Lambda runs them: long-poll the queue, gather up to
//! `BatchSize` messages (waiting at most `MaximumBatchingWindowInSeconds`), invoke the
//! consumer with an SQS event, then delete what succeeded. With
//! `ReportBatchItemFailures`, only the reported ids stay on the queue; otherwise a failed
//! invocation leaves the whole batch. Nothing is retried here: a message that stays
//! becomes visible again after the queue's visibility timeout, and the queue's redrive
//! policy moves it to the DLQ after `maxReceiveCount` receives.

use std::{collections::HashSet, time::Duration};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{invoke::Invoker, stack::Stack, template::SqsEventSource};

/// One running mapping.
pub struct Poller {
    pub source: SqsEventSource,
    pub queue_url: String,
    pub queue_arn: String,
    pub region: String,
    pub sqs: aws_sdk_sqs::Client,
    pub invoker: Invoker,
}

impl Poller {
    pub fn new(
        source: SqsEventSource,
        stack: &Stack,
        sqs: aws_sdk_sqs::Client,
        invoker: Invoker,
    ) -> Result<Self, String> {
        let physical = stack
            .physical
            .get(&source.queue)
            .ok_or_else(|| format!("queue {} does not exist locally", source.queue))?;
        Ok(Self {
            queue_url: physical.reference.clone(),
            queue_arn: physical.attributes.get("Arn").cloned().unwrap_or_default(),
            region: stack.region.clone(),
            source,
            sqs,
            invoker,
        })
    }

    /// Polls forever; errors (e.g. the endpoint is down) are logged and retried after a pause.
    pub async fn run(self) {
        tracing::info!(function = %self.source.binary, queue = %self.source.queue, "polling");
        loop {
            match self.poll_once().await {
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(queue = %self.source.queue, error = %err, "poll failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Receives one batch and delivers it; returns how many messages were delivered.
    pub async fn poll_once(&self) -> Result<usize, String> {
        let batch = self.receive_batch().await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let failed = self.deliver(&batch).await;
        let done: Vec<&Message> =
            batch.iter().filter(|m| !failed.contains(m.message_id().unwrap_or_default())).collect();
        self.delete(&done).await?;
        Ok(batch.len())
    }

    /// Long-polls until a first message arrives, then gathers more until `BatchSize`
    /// messages or until the batching window, counted from that first message, has passed.
    async fn receive_batch(&self) -> Result<Vec<Message>, String> {
        let window = Duration::from_secs(self.source.batching_window_secs);
        let mut batch: Vec<Message> = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let wait = match deadline {
                None => 10,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(batch);
                    }
                    left.as_secs_f64().ceil().min(20.0) as i32
                }
            };
            let wanted = (self.source.batch_size - batch.len()).min(10) as i32;
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            let messages = out.messages.unwrap_or_default();
            if deadline.is_none() {
                if messages.is_empty() {
                    return Ok(batch);
                }
                deadline = Some(Instant::now() + window);
            }
            batch.extend(messages);
            if batch.len() >= self.source.batch_size {
                return Ok(batch);
            }
        }
    }

    /// Invokes the consumer; returns the ids that failed.
    async fn deliver(&self, batch: &[Message]) -> HashSet<String> {
        let all: HashSet<String> = batch.iter().filter_map(|m| m.message_id().map(str::to_owned)).collect();
        let event = json!({"Records": batch.iter().map(|m| self.record(m)).collect::<Vec<_>>()});
        let result = match self.invoker.invoke(&self.source.binary, &event).await {
            Ok(result) => result,
            Err(err) => {
                tracing::warn!(function = %self.source.binary, error = %err, messages = all.len(), "batch failed");
                return all;
            }
        };
        if !self.source.report_batch_item_failures {
            return HashSet::new();
        }
        match reported_failures(&result, &all) {
            Some(failed) => {
                if !failed.is_empty() {
                    tracing::info!(function = %self.source.binary, failed = failed.len(), of = all.len(), "partial batch failure");
                }
                failed
            }
            None => {
                tracing::warn!(function = %self.source.binary, "invalid batchItemFailures: the whole batch failed");
                all
            }
        }
    }

    fn record(&self, message: &Message) -> Value {
        let attributes: serde_json::Map<String, Value> = message
            .attributes()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
            .collect();
        let message_attributes: serde_json::Map<String, Value> = message
            .message_attributes()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (k.clone(), json!({"stringValue": v.string_value(), "dataType": v.data_type(), "stringListValues": [], "binaryListValues": []}))
            })
            .collect();
        json!({
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body().unwrap_or_default(),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        })
    }

    async fn delete(&self, messages: &[&Message]) -> Result<(), String> {
        for chunk in messages.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .build()
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            for failed in out.failed() {
                // The message will be delivered again after its visibility timeout.
                tracing::warn!(queue = %self.source.queue, code = failed.code(), "could not delete a processed message");
            }
        }
        Ok(())
    }
}

/// The failed ids of a `{"batchItemFailures": [{"itemIdentifier": id}]}` response;
/// `None` when it is invalid (Lambda then treats the whole batch as failed). An empty or
/// absent list means every message succeeded.
pub fn reported_failures(result: &Value, batch: &HashSet<String>) -> Option<HashSet<String>> {
    let items = match &result["batchItemFailures"] {
        Value::Null => return Some(HashSet::new()),
        Value::Array(items) => items,
        _ => return None,
    };
    items
        .iter()
        .map(|item| item["itemIdentifier"].as_str().filter(|id| batch.contains(*id)).map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> HashSet<String> {
        ["m1", "m2", "m3"].into_iter().map(String::from).collect()
    }

    #[test]
    fn given_reported_ids_when_read_then_only_they_failed() {
        let failed = reported_failures(&json!({"batchItemFailures": [{"itemIdentifier": "m2"}]}), &batch()).unwrap();
        assert_eq!(failed, HashSet::from(["m2".to_owned()]));
    }

    #[test]
    fn given_no_failures_when_read_then_all_succeeded() {
        assert!(reported_failures(&json!({"batchItemFailures": []}), &batch()).unwrap().is_empty());
        assert!(reported_failures(&json!(null), &batch()).unwrap().is_empty());
    }

    #[test]
    fn given_an_unknown_or_empty_id_when_read_then_the_whole_batch_failed() {
        assert_eq!(reported_failures(&json!({"batchItemFailures": [{"itemIdentifier": "zz"}]}), &batch()), None);
        assert_eq!(reported_failures(&json!({"batchItemFailures": [{"itemIdentifier": ""}]}), &batch()), None);
        assert_eq!(reported_failures(&json!({"batchItemFailures": "m1"}), &batch()), None);
    }
}
