//! DynamoDB stream consumers (the tally). The event source has a tumbling window, the one
//! way AWS names the shard in the event (`shardId`), which the tally's watermarks are per.
//! Each record is read into a ballot write or a poll change (`ballot_core::tally`);
//! records of other items, or poll writes nobody hears of, are skipped; the first record
//! that cannot be read ends the batch, and is reported failed (`ReportBatchItemFailures`),
//! so the stream retries from it and nothing after it is folded or relayed before it. A failure of the handler fails the whole
//! batch (the event source then bisects it and retries). The answer always carries a
//! `state`, which a tumbling window requires; the tally keeps none.

use std::{future::Future, sync::Arc};

use aws_lambda_events::{
    dynamodb::{TimeWindowEvent, TimeWindowEventResponse},
    streams::DynamoDbBatchItemFailure,
};
use ballot_core::tally::{Batch, Seq};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use tracing::Instrument;

use crate::{
    ApiError,
    metrics::{self, Metric},
    store::{ballots::ballot_write, polls::poll_change},
};

/// The batch an event carries (see the module).
pub fn batch(event: &TimeWindowEvent) -> Result<Batch, ApiError> {
    let shard = event.time_window_properties.shard_id.clone();
    let shard = shard.ok_or_else(|| ApiError::internal("the event names no shard: set TumblingWindowInSeconds"))?;
    let mut batch = Batch { shard, ..Batch::default() };
    for record in &event.dynamo_db_event.records {
        let change = &record.change;
        let seq = change.sequence_number.as_deref().and_then(Seq::parse);
        let seq =
            seq.ok_or_else(|| ApiError::internal(format!("record {} has no sequence number", record.event_id)))?;
        let (old, new) = (&change.old_image, &change.new_image);
        let read = match ballot_write(seq.clone(), old, new) {
            Some(write) => write.map(|write| batch.writes.push(write)),
            None => match poll_change(seq.clone(), old, new) {
                Some(change) => change.map(|change| batch.changes.push(change)),
                None => Ok(()),
            },
        };
        if let Err(err) = read {
            tracing::error!(event_id = %record.event_id, seq = seq.as_str(), error = %err, "unreadable record");
            batch.failed_from = Some(seq);
            break;
        }
    }
    Ok(batch)
}

/// The answer to an event: its state (none kept) and the failed record, if any.
pub fn answer(failed: Option<&Seq>) -> TimeWindowEventResponse {
    let mut response = TimeWindowEventResponse::default();
    if let Some(failed) = failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        // The number as the stream wrote it (DynamoDB's never start with 0).
        failure.item_identifier = Some(failed.as_str().trim_start_matches('0').to_owned());
        response.batch_item_failures.push(failure);
    }
    response
}

/// Runs a stream consumer: `handler` gets each event's [`Batch`] and answers the first
/// record it did not finish, if any; the earlier of it and the first unreadable record
/// is reported failed.
pub async fn serve<D, F, Fut>(deps: D, handler: F) -> Result<(), lambda_runtime::Error>
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, Batch) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Seq>, ApiError>> + Send + 'static,
{
    let (deps, handler) = (Arc::new(deps), Arc::new(handler));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<TimeWindowEvent>| {
        let (deps, handler) = (Arc::clone(&deps), Arc::clone(&handler));
        let span = crate::telemetry::request_span("", Some(&event.context));
        async move {
            let batch = batch(&event.payload).map_err(failed)?;
            let unreadable = batch.failed_from.clone();
            if batch.writes.is_empty() && batch.changes.is_empty() {
                return Ok::<_, Diagnostic>(reported(unreadable));
            }
            let folded = batch.writes.len() + batch.changes.len();
            let oldest = oldest_write_ms(&event.payload);
            let unfinished = handler(deps, batch).await.map_err(failed)?;
            let lag = oldest.map(|at| (ballot_core::clock::epoch_ms().saturating_sub(at)) as f64);
            let mut figures = vec![(Metric::TallyBatchSize, folded as f64)];
            figures.extend(lag.map(|lag| (Metric::TallyLag, lag)));
            metrics::record(&figures);
            Ok(reported(unreadable.into_iter().chain(unfinished).min()))
        }
        .instrument(span)
    }))
    .await
}

/// When the event's oldest record reached the stream (epoch ms; DynamoDB rounds it to the
/// second), if any record says.
fn oldest_write_ms(event: &TimeWindowEvent) -> Option<u64> {
    let times =
        event.dynamo_db_event.records.iter().map(|r| r.change.approximate_creation_date_time.timestamp_millis());
    times.filter(|ms| *ms > 0).min().map(|ms| ms as u64)
}

/// The answer naming `failed` (counted as a failure of the consumer: Lambda counts none).
fn reported(failed: Option<Seq>) -> TimeWindowEventResponse {
    metrics::count(Metric::MessagesFailed, usize::from(failed.is_some()));
    answer(failed.as_ref())
}

/// A failed batch, as the event source sees it (the log has the cause).
fn failed(err: ApiError) -> Diagnostic {
    tracing::error!(error = %err, "batch failed");
    metrics::count(Metric::MessagesFailed, 1);
    Diagnostic { error_type: "BatchFailed".into(), error_message: "the batch failed; see the log".into() }
}
