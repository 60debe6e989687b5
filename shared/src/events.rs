//! The events queue's publisher: [`ballot_core::events`] on SQS.

use ballot_core::events::Event;

use ballot_core::Error;

/// Sends events to the events queue.
#[derive(Debug, Clone)]
pub struct Publisher {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl ballot_core::ports::Announce for Publisher {
    async fn publish(&self, event: &Event) -> Result<(), Error> {
        Publisher::publish(self, event).await
    }
}

impl Publisher {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { sqs, queue_url }
    }

    /// Sends `event`; the `type` is also a message attribute, for filtering.
    pub async fn publish(&self, event: &Event) -> Result<(), Error> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let body = serde_json::to_string(event).map_err(Error::internal)?;
        let kind = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(event.kind.as_str())
            .build()
            .map_err(Error::internal)?;
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("type", kind)
            .send()
            .await;
        match sent {
            Ok(_) => {
                tracing::info!(event = %event.id, kind = event.kind.as_str(), poll = %event.poll_id, "event published");
                Ok(())
            }
            Err(err) => {
                tracing::error!(event = %event.id, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "event not published");
                Err(Error::Unavailable(
                    "The change is saved but could not be announced; retry the same request to finish it.".into(),
                ))
            }
        }
    }
}
