//! SQS consumers, the way Powertools' batch processor works: every record is handled on
//! its own, and only the ids of records that failed are reported
//! (`ReportBatchItemFailures`), so SQS redelivers those alone and, after
//! `maxReceiveCount`, moves them to the dead-letter queue. A malformed or unknown message
//! is logged with its id and reported failed; it never fails the rest of the batch.
//!
//! A queue's visibility timeout is at least six times its consumer's timeout (AWS's
//! advice, checked by tests/template_rules.rs), far too long to wait for the retry of a
//! message that failed on a passing fault; so a consumer given a [`Retry`] brings each
//! failed message back after a backoff of its own instead (5 s, doubling per receive, at
//! most 5 minutes). If that call fails too, the visibility timeout still brings it back.

use std::{collections::HashMap, future::Future, sync::Arc};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::{StreamExt, stream};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::{ApiError, telemetry};

/// What a message says about the event it carries, for its log span.
pub trait QueueMessage: DeserializeOwned {
    /// The id of the event the message carries, if it carries one.
    fn event_id(&self) -> Option<&str> {
        None
    }
}

impl QueueMessage for ballot_core::events::Message {
    fn event_id(&self) -> Option<&str> {
        match self {
            Self::Event(event) => Some(&event.id),
            Self::ClosingTime(_) => None,
        }
    }
}

impl QueueMessage for ballot_core::events::Event {
    fn event_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl QueueMessage for ballot_core::live::LiveMessage {}

/// Where a consumer brings its failed messages back early (see the module).
#[derive(Debug, Clone)]
pub struct Retry {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// The first backoff of a failed message, doubled per receive.
const FIRST_BACKOFF_SECS: u64 = 5;
/// The longest backoff.
const MAX_BACKOFF_SECS: u64 = 300;

/// How long a message that failed on its `receives`th receive stays away.
pub fn backoff_secs(receives: u32) -> u64 {
    let doublings = receives.saturating_sub(1).min(16);
    (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS)
}

/// One message of a batch, its body parsed.
#[derive(Debug, Clone)]
pub struct Received<M> {
    pub message_id: String,
    /// What changes the message's visibility (a consumer that schedules its own retry).
    pub receipt_handle: String,
    pub body: M,
}

/// Runs a consumer of messages of type `M`: `handler` gets each message of each batch,
/// at most `concurrency` at a time (1: in order). Failed messages come back after a
/// backoff with a `retry`; without one (a consumer that holds its messages back itself),
/// after the queue's visibility timeout.
pub async fn serve<M, D, F, Fut>(
    deps: D,
    concurrency: usize,
    retry: Option<Retry>,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    M: QueueMessage + Send + 'static,
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, Received<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let deps = Arc::new(deps);
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (deps, handler) = (Arc::clone(&deps), Arc::clone(&handler));
        let span = telemetry::request_span("", Some(&event.context));
        let retry = retry.clone();
        async move {
            let receives = receive_counts(&event.payload.records);
            let response = process_batch(event.payload.records, concurrency, |m| handler(Arc::clone(&deps), m)).await;
            crate::metrics::count(crate::metrics::Metric::MessagesFailed, response.batch_item_failures.len());
            if let Some(retry) = &retry {
                for failure in &response.batch_item_failures {
                    let (id, receipt, count) = &receives[&failure.item_identifier];
                    retry.back_off(id, receipt, *count).await;
                }
            }
            Ok::<_, std::convert::Infallible>(response)
        }
        .instrument(span)
    }))
    .await
}

/// Each record's id, receipt handle and receive count, by id.
fn receive_counts(records: &[SqsMessage]) -> HashMap<String, (String, String, u32)> {
    records
        .iter()
        .map(|r| {
            let id = r.message_id.clone().unwrap_or_default();
            let count = r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
            (id.clone(), (id, r.receipt_handle.clone().unwrap_or_default(), count))
        })
        .collect()
}

impl Retry {
    /// Brings a failed message back after [`backoff_secs`]; a failure to is only logged.
    async fn back_off(&self, message_id: &str, receipt_handle: &str, receives: u32) {
        let secs = backoff_secs(receives);
        let changed = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs as i32)
            .send()
            .await;
        match changed {
            Ok(_) => tracing::info!(message_id, retry_in = secs, "message will be retried"),
            Err(err) => {
                tracing::warn!(message_id, error = %aws_sdk_sqs::error::DisplayErrorContext(err), "could not set the backoff; the visibility timeout brings the message back")
            }
        }
    }
}

/// Handles the records, `concurrency` at a time; the response lists the ids of those that
/// failed, in the order of the batch.
pub async fn process_batch<M, F, Fut>(records: Vec<SqsMessage>, concurrency: usize, handler: F) -> SqsBatchResponse
where
    M: QueueMessage,
    F: Fn(Received<M>) -> Fut,
    Fut: Future<Output = Result<(), ApiError>>,
{
    let outcomes = stream::iter(records)
        .map(|record| {
            let id = record.message_id.unwrap_or_default();
            let parsed = match record.body.as_deref() {
                Some(text) => {
                    serde_json::from_str::<M>(text).map_err(|err| format!("not a message of this queue: {err}"))
                }
                None => Err("no body".to_owned()),
            };
            let receipt_handle = record.receipt_handle.unwrap_or_default();
            let span = telemetry::message_span(&id, parsed.as_ref().ok().and_then(|m| m.event_id()));
            let handled = parsed.map(|body| handler(Received { message_id: id.clone(), receipt_handle, body }));
            async move {
                let outcome = match handled {
                    Ok(handled) => handled.await.map_err(|err| err.to_string()),
                    Err(reason) => Err(reason),
                };
                if let Err(reason) = &outcome {
                    tracing::error!(%reason, "message failed; it returns to the queue");
                }
                (id, outcome)
            }
            .instrument(span)
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if outcome.is_err() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::events::Event;

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message
    }

    #[tokio::test]
    async fn given_poison_and_failing_messages_when_processed_then_only_they_are_reported() {
        let event = |id: &str| {
            format!(
                r#"{{"id":"{id}","type":"vote.cast","poll_id":"p","occurred_at":"2027-01-01T00:00:00Z","data":{{}}}}"#
            )
        };
        let records = vec![
            record("m1", &event("e1")),
            record("m2", "{not json"),
            record("m3", &event("fail")),
            record("m4", &event("e4").replace("vote.cast", "vote.eaten")),
            record("m5", &event("e5")),
        ];
        let response = process_batch(records, 2, |m: Received<Event>| async move {
            if m.body.id == "fail" {
                Err(ApiError::Domain(ballot_core::Error::Unavailable("down".into())))
            } else {
                Ok(())
            }
        })
        .await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m2", "m3", "m4"]);
    }

    #[test]
    fn given_receives_then_the_backoff_doubles_up_to_five_minutes() {
        let backoffs: Vec<u64> = (0..=9).map(backoff_secs).collect();
        assert_eq!(backoffs, [5, 5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff_secs(u32::MAX), 300);
    }
}
