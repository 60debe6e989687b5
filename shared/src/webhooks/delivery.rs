//! What the webhook deliveries queue carries, how the events consumer fills it, and when a
//! failed delivery is tried again.
//!
//! The events consumer turns one event into one [`Delivery`] per subscribed, enabled
//! webhook ([`Outbox::fan_out`]); the deliveries consumer sends each on its own, so one
//! slow or failing endpoint never holds back another. A message carries the webhook's URL
//! and its secret sealed (never in clear), so a `poll.deleted` event still reaches the
//! webhooks that the purge removes.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};

use crate::{ApiError, store::webhooks::WebhookItem};
use ballot_core::events::Event;

/// One event for one webhook: a message of the deliveries queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub webhook_id: String,
    pub url: String,
    /// The webhook's secret, sealed under the webhook master key (bound to `webhook_id`).
    pub secret_sealed: String,
    pub event: Event,
}

/// Sends deliveries to the deliveries queue.
#[derive(Debug, Clone)]
pub struct Outbox {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Outbox {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { sqs, queue_url }
    }

    /// Queues `event` for each of `webhooks`, 10 per request. An error means some may be
    /// queued and some not: the caller fails the event, and its retry queues them all
    /// again (the deliveries consumer sends each (event, webhook) once).
    pub async fn fan_out(&self, event: &Event, webhooks: Vec<WebhookItem>) -> Result<usize, ApiError> {
        let deliveries: Vec<Delivery> = webhooks
            .into_iter()
            .map(|item| Delivery {
                webhook_id: item.webhook.id,
                url: item.webhook.url,
                secret_sealed: item.secret_sealed,
                event: event.clone(),
            })
            .collect();
        for chunk in deliveries.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, delivery)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(delivery).map_err(ApiError::internal)?)
                        .build()
                        .map_err(ApiError::internal)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(ApiError::internal)?;
            if !out.failed.is_empty() {
                return Err(ApiError::Domain(ballot_core::Error::Unavailable(format!(
                    "{} deliveries were not queued",
                    out.failed.len()
                ))));
            }
        }
        Ok(deliveries.len())
    }
}

impl crate::queue::QueueMessage for Delivery {
    fn event_id(&self) -> Option<&str> {
        Some(&self.event.id)
    }
}
