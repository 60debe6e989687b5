//! SQS consumers of the events queue, the way Powertools' batch processor works: every
//! record is handled on its own, and only the ids of records that failed are reported
//! (`ReportBatchItemFailures`), so SQS redelivers those alone and, after
//! `maxReceiveCount`, moves them to the dead-letter queue. A malformed or unknown message
//! is logged with its id and reported failed; it never fails the rest of the batch.

use std::{future::Future, sync::Arc};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::Instrument;

use crate::{ApiError, events::Event};

/// Runs a consumer: `handler` gets each event of each batch.
pub async fn serve_events<D, F, Fut>(deps: D, handler: F) -> Result<(), lambda_runtime::Error>
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let deps = Arc::new(deps);
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (deps, handler) = (Arc::clone(&deps), Arc::clone(&handler));
        let span = crate::telemetry::request_span("", &event.context.request_id);
        async move {
            let response = process_batch(event.payload.records, |e| handler(Arc::clone(&deps), e)).await;
            Ok::<_, std::convert::Infallible>(response)
        }
        .instrument(span)
    }))
    .await
}

/// Handles each record in order; the response lists the ids of those that failed.
pub async fn process_batch<F, Fut>(records: Vec<SqsMessage>, handler: F) -> SqsBatchResponse
where
    F: Fn(Event) -> Fut,
    Fut: Future<Output = Result<(), ApiError>>,
{
    let mut failures = Vec::new();
    for record in records {
        let id = record.message_id.clone().unwrap_or_default();
        let event = record.body.as_deref().map(serde_json::from_str::<Event>);
        let outcome = match event {
            Some(Ok(event)) => {
                let (event_id, kind) = (event.id.clone(), event.kind.as_str());
                handler(event).await.map_err(|err| format!("event {event_id} ({kind}) failed: {err}"))
            }
            Some(Err(err)) => Err(format!("not an event: {err}")),
            None => Err("no body".into()),
        };
        if let Err(reason) = outcome {
            tracing::error!(message_id = %id, %reason, "message failed; it returns to the queue");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let response = process_batch(records, |e| async move {
            if e.id == "fail" { Err(ApiError::Unavailable("down".into())) } else { Ok(()) }
        })
        .await;
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m2", "m3", "m4"]);
    }
}
