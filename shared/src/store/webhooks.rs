//! A poll's webhooks.
//!
//! Keys: `POLL#<id>#WEBHOOKS` / `<webhook id>` (the webhook, its sealed secret and
//! delivery health), and `POLL#<id>#WEBHOOKCOUNT` / `COUNT` (how many the poll has). A
//! webhook and the count change in one transaction, conditional on the count, so a poll
//! never has more than [`MAX_PER_POLL`], however many requests race.
//!
//! Delivery health lives on the webhook item: `webhook.last_error` (the latest failed
//! attempt), `consecutive_failures` (deliveries that failed for good, one after another;
//! a success resets it) and `webhook.disabled_at`, set once that count reaches
//! [`DISABLE_AFTER`]. A disabled webhook gets nothing more.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{Query, Store};
use ballot_core::Error;
use ballot_core::events::EventKind;
use ballot_core::webhooks::Webhook;

pub const MAX_PER_POLL: u32 = 5;
/// Deliveries failing for good in a row that disable a webhook.
pub const DISABLE_AFTER: u32 = 20;

/// A webhook as its deliveries need it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookItem {
    pk: String,
    sk: String,
    pub webhook: Webhook,
    /// The secret, sealed under the webhook master key (`crate::webhooks::sealed`).
    pub secret_sealed: String,
    #[serde(default)]
    pub consecutive_failures: u32,
}

pub(super) fn webhooks_pk(poll_id: &str) -> String {
    format!("POLL#{poll_id}#WEBHOOKS")
}

pub(super) fn count_pk(poll_id: &str) -> String {
    format!("POLL#{poll_id}#WEBHOOKCOUNT")
}

impl Store {
    /// Adds a webhook to poll `poll_id`; 409 when it has [`MAX_PER_POLL`] already.
    pub async fn create_webhook(&self, poll_id: &str, webhook: &Webhook, secret_sealed: String) -> Result<(), Error> {
        let item = WebhookItem {
            pk: webhooks_pk(poll_id),
            sk: webhook.id.clone(),
            webhook: webhook.clone(),
            secret_sealed,
            consecutive_failures: 0,
        };
        if self
            .transact(vec![self.put_new(&item)?, self.count_step(count_pk(poll_id), 1, Some(MAX_PER_POLL as usize))?])
            .await?
        {
            Ok(())
        } else {
            Err(Error::Conflict(format!("A poll has at most {MAX_PER_POLL} webhooks; delete one first.")))
        }
    }

    /// The webhooks of poll `poll_id`, oldest first (ids are random: by creation time).
    pub async fn webhooks(&self, poll_id: &str) -> Result<Vec<Webhook>, Error> {
        let mut hooks: Vec<Webhook> = self.webhook_items(poll_id).await?.into_iter().map(|item| item.webhook).collect();
        hooks.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(hooks)
    }

    /// The enabled webhooks of poll `poll_id` that subscribe to `kind`.
    pub async fn subscribers(&self, poll_id: &str, kind: EventKind) -> Result<Vec<WebhookItem>, Error> {
        let items = self.webhook_items(poll_id).await?;
        Ok(items.into_iter().filter(|i| i.webhook.disabled_at.is_none() && i.webhook.events.contains(&kind)).collect())
    }

    /// Every webhook item of poll `poll_id`.
    async fn webhook_items(&self, poll_id: &str) -> Result<Vec<WebhookItem>, Error> {
        let query = Query { index: None, key: "pk", value: webhooks_pk(poll_id), limit: None, descending: false };
        self.query_all(&query).await
    }

    /// Webhook `id` of poll `poll_id`, with its health (strongly consistent).
    pub async fn webhook(&self, poll_id: &str, id: &str) -> Result<Option<WebhookItem>, Error> {
        self.get(webhooks_pk(poll_id), id).await
    }

    /// Records a delivered event: the run of failures ends.
    pub async fn webhook_succeeded(&self, poll_id: &str, id: &str) -> Result<(), Error> {
        let request = self
            .update_item(webhooks_pk(poll_id), id)
            .update_expression("SET consecutive_failures = :zero")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()));
        super::condition_held(request.send().await)?;
        Ok(())
    }

    /// Records a failed attempt (`error`, a sentence without secrets); `for_good` when
    /// the delivery will not be tried again, which counts toward [`DISABLE_AFTER`].
    /// Returns whether this disabled the webhook. A deleted webhook is left deleted.
    pub async fn webhook_failed(
        &self,
        poll_id: &str,
        id: &str,
        error: &str,
        for_good: bool,
        now: &str,
    ) -> Result<bool, Error> {
        let expression = if for_good {
            "SET webhook.last_error = :e ADD consecutive_failures :one"
        } else {
            "SET webhook.last_error = :e"
        };
        let mut request = self
            .update_item(webhooks_pk(poll_id), id)
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":e", AttributeValue::S(error.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if for_good {
            request = request.expression_attribute_values(":one", AttributeValue::N("1".into()));
        }
        let Some(out) = super::condition_held(request.send().await)? else { return Ok(false) };
        let item: WebhookItem = serde_dynamo::from_item(out.attributes.unwrap_or_default()).map_err(Error::internal)?;
        if !for_good || item.consecutive_failures < DISABLE_AFTER || item.webhook.disabled_at.is_some() {
            return Ok(false);
        }
        let disable = self
            .update_item(webhooks_pk(poll_id), id)
            .update_expression("SET webhook.disabled_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", AttributeValue::S(now.to_owned()));
        Ok(super::condition_held(disable.send().await)?.is_some())
    }

    /// Deletes webhook `id` of poll `poll_id`; `false` when there is no such webhook.
    pub async fn delete_webhook(&self, poll_id: &str, id: &str) -> Result<bool, Error> {
        self.transact(vec![
            self.delete_existing(webhooks_pk(poll_id), id)?,
            self.count_step(count_pk(poll_id), -1, None)?,
        ])
        .await
    }
}

/// A poll is watched for a kind of event when it has a webhook (not disabled) for it.
impl ballot_core::ports::Subscriptions for Store {
    async fn watched(&self, poll_id: &str, kind: EventKind) -> Result<bool, Error> {
        Ok(!self.subscribers(poll_id, kind).await?.is_empty())
    }
}
