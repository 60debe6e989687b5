//! The events queue: [`ballot_core::events`] on SQS, sent by the tally's outbox relay
//! ([`ballot_core::relaying`]).

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use ballot_core::{Error, events::Event};

/// Sends events to the events queue.
#[derive(Debug, Clone)]
pub struct Publisher {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Publisher {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { sqs, queue_url }
    }
}

/// The message of `event` (the `type` is also a message attribute, for filtering), with
/// the id `n` within its request.
fn entry(n: usize, event: &Event) -> Result<SendMessageBatchRequestEntry, Error> {
    let kind = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(event.kind.as_str())
        .build()
        .map_err(Error::internal)?;
    SendMessageBatchRequestEntry::builder()
        .id(n.to_string())
        .message_body(serde_json::to_string(event).map_err(Error::internal)?)
        .message_attributes("type", kind)
        .build()
        .map_err(Error::internal)
}

/// Sends events 10 per request (SQS's most), in order, stopping at the first request
/// with an entry the queue did not take.
impl ballot_core::ports::Outbox for Publisher {
    async fn send_all(&self, events: &[Event]) -> Result<usize, Error> {
        for (start, chunk) in (0..events.len()).step_by(10).zip(events.chunks(10)) {
            let entries = chunk.iter().enumerate().map(|(n, event)| entry(n, event)).collect::<Result<Vec<_>, _>>()?;
            let sent = self.sqs.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await;
            let failed: Vec<usize> = match sent {
                Ok(out) => out.failed.iter().filter_map(|f| f.id.parse().ok()).collect(),
                Err(err) => {
                    let error = aws_sdk_sqs::error::DisplayErrorContext(&err);
                    tracing::warn!(error = %error, events = chunk.len(), "events not sent");
                    return Ok(start);
                }
            };
            for event in chunk.iter().enumerate().filter(|(n, _)| !failed.contains(n)).map(|(_, e)| e) {
                tracing::info!(event = %event.id, kind = event.kind.as_str(), poll = %event.poll_id, "event relayed");
            }
            if let Some(first) = failed.iter().min() {
                tracing::warn!(failed = failed.len(), "events refused by the queue");
                return Ok(start + first);
            }
        }
        Ok(events.len())
    }
}
