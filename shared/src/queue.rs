//! SQS consumers, the way Powertools' batch processor works: every record is handled on
//! its own, and only the ids of records that failed are reported
//! (`ReportBatchItemFailures`), so SQS redelivers those alone and, after
//! `maxReceiveCount`, moves them to the dead-letter queue. A malformed or unknown message
//! is logged with its id and reported failed; it never fails the rest of the batch.

use std::{future::Future, sync::Arc};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::{StreamExt, stream};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::ApiError;

/// One message of a batch, its body parsed.
#[derive(Debug, Clone)]
pub struct Received<M> {
    pub message_id: String,
    /// What changes the message's visibility (a consumer that schedules its own retry).
    pub receipt_handle: String,
    pub body: M,
}

/// Runs a consumer of messages of type `M`: `handler` gets each message of each batch,
/// at most `concurrency` at a time (1: in order).
pub async fn serve<M, D, F, Fut>(deps: D, concurrency: usize, handler: F) -> Result<(), lambda_runtime::Error>
where
    M: DeserializeOwned + Send + 'static,
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, Received<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let deps = Arc::new(deps);
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (deps, handler) = (Arc::clone(&deps), Arc::clone(&handler));
        let span = crate::telemetry::request_span("", &event.context.request_id);
        async move {
            let response = process_batch(event.payload.records, concurrency, |m| handler(Arc::clone(&deps), m)).await;
            Ok::<_, std::convert::Infallible>(response)
        }
        .instrument(span)
    }))
    .await
}

/// Handles the records, `concurrency` at a time; the response lists the ids of those that
/// failed, in the order of the batch.
pub async fn process_batch<M, F, Fut>(records: Vec<SqsMessage>, concurrency: usize, handler: F) -> SqsBatchResponse
where
    M: DeserializeOwned,
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
            let handled = parsed.map(|body| handler(Received { message_id: id.clone(), receipt_handle, body }));
            async move {
                let outcome = match handled {
                    Ok(handled) => handled.await.map_err(|err| err.to_string()),
                    Err(reason) => Err(reason),
                };
                (id, outcome)
            }
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if let Err(reason) = outcome {
            tracing::error!(message_id = %id, %reason, "message failed; it returns to the queue");
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
}
