//! One record per (event, webhook): how often the event was sent there and how that
//! ended, so a duplicated message never delivers twice and two copies never send at once.
//!
//! Key: `EVENT#<event id>` / `WEBHOOK#<webhook id>`, kept [`KEEP_DAYS`] (longer than SQS
//! keeps a message). An attempt first takes a lease (`leased_until`, conditional: none
//! held, nothing finished) and counts itself in `attempts`; it ends by setting
//! `finished` (`delivered` or `failed`) or by giving the lease back for a later retry.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::Deserialize;

use super::Store;
use ballot_core::Error;

const KEEP_DAYS: u64 = 14;

/// What an attempt to deliver may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Send now; this is attempt number `n` (1-based).
    Send(u32),
    /// Delivered or failed for good already: nothing to do.
    Finished,
    /// Another copy is sending; look again in this many seconds.
    Busy(u64),
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Delivered,
    Failed,
}

#[derive(Deserialize)]
struct DeliveryItem {
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    leased_until: Option<u64>,
    #[serde(default)]
    finished: Option<String>,
}

fn key(event_id: &str, webhook_id: &str) -> (String, String) {
    (format!("EVENT#{event_id}"), format!("WEBHOOK#{webhook_id}"))
}

impl Store {
    /// Takes the lease of delivering `event_id` to `webhook_id` for `lease_secs` from `now`.
    pub async fn begin_delivery(
        &self,
        event_id: &str,
        webhook_id: &str,
        now: u64,
        lease_secs: u64,
    ) -> Result<Attempt, Error> {
        let (pk, sk) = key(event_id, webhook_id);
        let request = self
            .update_item(pk, &sk)
            .update_expression("SET leased_until = :until, expires_at = :expires ADD attempts :one")
            .condition_expression(
                "attribute_not_exists(finished) AND (attribute_not_exists(leased_until) OR leased_until <= :now)",
            )
            .expression_attribute_values(":until", AttributeValue::N((now + lease_secs).to_string()))
            .expression_attribute_values(":expires", AttributeValue::N((now + KEEP_DAYS * 86_400).to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let item: Option<DeliveryItem> = match super::condition_held_or_item(request.send().await)? {
            Ok(out) => {
                let item: DeliveryItem =
                    serde_dynamo::from_item(out.attributes.unwrap_or_default()).map_err(Error::internal)?;
                return Ok(Attempt::Send(item.attempts));
            }
            Err(held) => held.map(serde_dynamo::from_item).transpose().map_err(Error::internal)?,
        };
        Ok(match item {
            Some(DeliveryItem { finished: Some(_), .. }) | None => Attempt::Finished,
            Some(DeliveryItem { leased_until, .. }) => {
                Attempt::Busy(leased_until.unwrap_or(now).saturating_sub(now).max(1))
            }
        })
    }

    /// Ends the delivery: no later copy of the message sends it again.
    pub async fn finish_delivery(&self, event_id: &str, webhook_id: &str, ending: Ending) -> Result<(), Error> {
        let (pk, sk) = key(event_id, webhook_id);
        let finished = match ending {
            Ending::Delivered => "delivered",
            Ending::Failed => "failed",
        };
        self.update_item(pk, &sk)
            .update_expression("SET finished = :finished REMOVE leased_until")
            .expression_attribute_values(":finished", AttributeValue::S(finished.into()))
            .send()
            .await
            .map_err(Error::internal)?;
        Ok(())
    }

    /// Gives the lease back after a failed attempt, so the retry may send at once.
    pub async fn release_delivery(&self, event_id: &str, webhook_id: &str) -> Result<(), Error> {
        let (pk, sk) = key(event_id, webhook_id);
        let request = self
            .update_item(pk, &sk)
            .update_expression("REMOVE leased_until")
            .condition_expression("attribute_exists(pk)");
        super::condition_held(request.send().await)?;
        Ok(())
    }
}
