//! The deliveries consumer: one [`Delivery`] message, one attempt.
//!
//! - A webhook deleted or disabled since the event gets nothing (except `poll.deleted`,
//!   whose purge deletes the webhooks it is announced to).
//! - Each (event, webhook) is sent once however often its message arrives: an attempt
//!   takes the delivery's lease first ([`Store::begin_delivery`]); a delivery that ended
//!   is not sent again, and a copy finding the lease held waits for it.
//! - A failed attempt is retried after the [`Backoff`] delay: the consumer itself holds
//!   the message back that long (its visibility), then reports it failed. After the last
//!   attempt, or when the address is refused, the delivery is recorded as failed and the
//!   message is done; the webhook counts it toward being disabled.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::{
    delivery::Delivery,
    sealed::SealKey,
    sender::{Failure, Sender},
};
use crate::{
    ApiError,
    aws::secretsmanager,
    metrics::{self, Metric},
    queue::Received,
    secrets::Parsed,
    store::{
        Store,
        deliveries::{Attempt, Ending},
    },
};
use ballot_core::events::EventKind;
use ballot_core::{clock, webhooks::retry::Backoff};

/// How long an attempt holds its delivery: longer than a request can take.
const LEASE_SECS: u64 = super::sender::TIMEOUT.as_secs() + 20;

/// What the deliveries consumer holds, built once per cold start.
pub struct Deliverer {
    pub store: Store,
    pub key: Parsed<secretsmanager::Client, SealKey>,
    pub sender: Sender,
    pub backoff: Backoff,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl Deliverer {
    /// Handles one message: `Ok` when it is done with (delivered, failed for good or
    /// nothing to do), `Err` when it must come back (after the delay it was given).
    pub async fn handle(&self, message: Received<Delivery>) -> Result<(), ApiError> {
        let delivery = &message.body;
        let (event, poll_id, webhook_id) = (&delivery.event, &delivery.event.poll_id, &delivery.webhook_id);
        let live = self.store.webhook(poll_id, webhook_id).await?;
        match &live {
            None if event.kind != EventKind::PollDeleted => {
                tracing::info!(event = %event.id, webhook = %webhook_id, "webhook deleted: not delivered");
                return Ok(());
            }
            Some(item) if item.webhook.disabled_at.is_some() => {
                tracing::info!(event = %event.id, webhook = %webhook_id, "webhook disabled: not delivered");
                return Ok(());
            }
            _ => {}
        }
        let now = clock::epoch_secs();
        let attempt = match self.store.begin_delivery(&event.id, webhook_id, now, LEASE_SECS).await? {
            Attempt::Send(n) => n,
            Attempt::Finished => {
                tracing::info!(event = %event.id, webhook = %webhook_id, "delivered before: duplicate dropped");
                return Ok(());
            }
            Attempt::Busy(secs) => {
                self.hold_back(&message, secs).await?;
                return Err(ApiError::Domain(ballot_core::Error::Unavailable(format!(
                    "delivery in progress elsewhere; back in {secs} s"
                ))));
            }
        };
        let outcome = match self.key.get().await?.open(&delivery.secret_sealed, webhook_id) {
            Some(secret) => self.sender.send(&delivery.url, &secret, event, now).await,
            None => Err(Failure::Refused("the webhook's secret could not be opened".into())),
        };
        let failure = match outcome {
            Ok(status) => {
                self.store.finish_delivery(&event.id, webhook_id, Ending::Delivered).await?;
                if live.as_ref().is_some_and(|item| item.consecutive_failures > 0) {
                    self.store.webhook_succeeded(poll_id, webhook_id).await?;
                }
                metrics::count(Metric::WebhookDeliveriesSent, 1);
                tracing::info!(event = %event.id, webhook = %webhook_id, attempt, status, "delivered");
                return Ok(());
            }
            Err(failure) => failure,
        };
        let retry = match failure {
            Failure::Refused(_) => None,
            Failure::Failed(_) => self.backoff.after(attempt, jitter()),
        };
        let reason = failure.to_string();
        let disabled = match live {
            Some(_) => {
                self.store.webhook_failed(poll_id, webhook_id, &reason, retry.is_none(), &clock::rfc3339_now()).await?
            }
            None => false,
        };
        match retry {
            None => {
                self.store.finish_delivery(&event.id, webhook_id, Ending::Failed).await?;
                metrics::record(&[
                    (Metric::WebhookDeliveriesFailed, 1.0),
                    (Metric::WebhooksDisabled, f64::from(u8::from(disabled))),
                ]);
                tracing::warn!(event = %event.id, webhook = %webhook_id, attempt, %reason, disabled, "delivery failed for good");
                Ok(())
            }
            Some(delay) => {
                self.store.release_delivery(&event.id, webhook_id).await?;
                self.hold_back(&message, delay.as_secs()).await?;
                tracing::warn!(event = %event.id, webhook = %webhook_id, attempt, %reason, retry_in = delay.as_secs(), "delivery failed; will retry");
                Err(ApiError::Domain(ballot_core::Error::Unavailable(format!("attempt {attempt} failed: {reason}"))))
            }
        }
    }

    /// Keeps the message invisible for `secs`: its next receive is the retry.
    async fn hold_back(&self, message: &Received<Delivery>, secs: u64) -> Result<(), ApiError> {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&message.receipt_handle)
            .visibility_timeout(secs.min(ballot_core::webhooks::retry::MAX_DELAY_SECS) as i32)
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }
}

/// A uniform number in `[0, 1)` for the retry jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}
