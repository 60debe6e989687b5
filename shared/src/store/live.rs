//! Live results' connections and subscriptions in the table.
//!
//! - `LIVE#<connection>` / `CONNECTION`: who holds it (`sub`, `roles`, `token_kind`,
//!   `token_expires_at`; none for an anonymous watcher) and `expires_at`, API Gateway's
//!   2 hours.
//! - `POLL#<poll>#WATCHERS#<shard>` / `<connection>`: a watcher of a poll, spread over
//!   [`WATCHER_SHARDS`] partitions by connection id, so reading one poll's watchers page
//!   by page is never one hot key.
//!   It carries the watcher's `admitted` ([`ballot_core::live::admission`]).
//! - `LIVE#<connection>` / `WATCHES#<poll>`: the same subscription seen from the
//!   connection, so `$disconnect` finds what to remove.
//! - `POLL#<poll>#LIVE` / `MARK`: the poll's live mark ([`ballot_core::live::LiveMark`]):
//!   `watched_until` (the latest end of a connection that subscribed: no mark or a past
//!   one means nobody to push to), `pushed_at_ms`, `trailing_at_ms`, and `v`, the version
//!   its writes are conditional on.
//!
//! Every item carries `expires_at` (the table's TTL attribute): TTL deletion is late in
//! AWS and absent locally, so readers filter on it. None of them has `cast_at` or is a
//! poll item, so the tally's stream filter never passes their records. The purge leaves
//! them: a deleted poll's final push ends its subscriptions, and they expire.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use ballot_core::{
    Error,
    access::{Principal, Role, TokenKind},
    live::{Connection, LiveMark, Watcher, watcher_shard},
    polls::ResultsVisibility,
    ports::Marked,
};
use serde::{Deserialize, Serialize};

use super::{Store, condition_held};

const CONNECTION: &str = "CONNECTION";
const WATCHES: &str = "WATCHES#";
const MARK: &str = "MARK";

#[derive(Debug, Serialize, Deserialize)]
struct ConnectionItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_kind: Option<TokenKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_expires_at: Option<u64>,
    expires_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SubscriptionItem {
    pk: String,
    sk: String,
    /// On the poll's side: the watcher's admission (older items: anyone's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admitted: Option<ResultsVisibility>,
    expires_at: u64,
}

#[derive(Debug, Deserialize)]
struct MarkItem {
    #[serde(default)]
    watched_until: u64,
    #[serde(default)]
    pushed_at_ms: u64,
    #[serde(default)]
    trailing_at_ms: Option<u64>,
    #[serde(default)]
    v: u64,
}

fn connection_pk(id: &str) -> String {
    format!("LIVE#{id}")
}

/// The partition of poll `poll_id`'s watchers that holds shard `shard`.
pub fn watchers_pk(poll_id: &str, shard: u32) -> String {
    format!("POLL#{poll_id}#WATCHERS#{shard}")
}

fn mark_pk(poll_id: &str) -> String {
    format!("POLL#{poll_id}#LIVE")
}

impl Store {
    async fn put_item_of<T: Serialize>(&self, item: &T) -> Result<(), Error> {
        let item = serde_dynamo::to_item(item).map_err(Error::internal)?;
        self.db.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(Error::internal)?;
        Ok(())
    }

    async fn delete_key(&self, pk: String, sk: &str) -> Result<(), Error> {
        let delete = self.db.delete_item().table_name(&self.table).set_key(Some(Self::key(pk, sk)));
        delete.send().await.map_err(Error::internal)?;
        Ok(())
    }
}

impl ballot_core::ports::Watchers for Store {
    async fn connected(&self, connection: &Connection) -> Result<(), Error> {
        let watcher = connection.watcher.as_ref();
        self.put_item_of(&ConnectionItem {
            pk: connection_pk(&connection.id),
            sk: CONNECTION.into(),
            sub: watcher.map(|w| w.sub.clone()),
            roles: watcher.map(|w| w.roles.clone()).unwrap_or_default(),
            token_kind: watcher.map(|w| w.token_kind),
            token_expires_at: connection.token_expires_at,
            expires_at: connection.expires_at,
        })
        .await
    }

    async fn connection(&self, id: &str, now: u64) -> Result<Option<Connection>, Error> {
        let item: Option<ConnectionItem> = self.get(connection_pk(id), CONNECTION).await?;
        Ok(item.filter(|item| item.expires_at > now).map(|item| {
            let watcher = match (item.sub, item.token_kind) {
                (Some(sub), Some(token_kind)) => {
                    Some(Principal { sub, roles: item.roles, token_kind, email_verified: false })
                }
                _ => None,
            };
            Connection {
                id: id.to_owned(),
                watcher,
                token_expires_at: item.token_expires_at,
                expires_at: item.expires_at,
            }
        }))
    }

    async fn watch(&self, connection: &Connection, poll_id: &str, admitted: ResultsVisibility) -> Result<(), Error> {
        // The connection's side first: `$disconnect` then always finds the watcher item.
        let expires_at = connection.expires_at;
        let (pk, sk) = (connection_pk(&connection.id), format!("{WATCHES}{poll_id}"));
        self.put_item_of(&SubscriptionItem { pk, sk, admitted: None, expires_at }).await?;
        let (pk, sk) = (watchers_pk(poll_id, watcher_shard(&connection.id)), connection.id.clone());
        self.put_item_of(&SubscriptionItem { pk, sk, admitted: Some(admitted), expires_at }).await?;
        // The mark says someone watches until then, unless it says so for longer already.
        let until = AttributeValue::N(expires_at.to_string());
        let result = self
            .update_item(mark_pk(poll_id), MARK)
            .update_expression("SET watched_until = :until, expires_at = :until")
            .condition_expression("attribute_not_exists(watched_until) OR watched_until < :until")
            .expression_attribute_values(":until", until)
            .send()
            .await;
        condition_held(result)?;
        Ok(())
    }

    async fn unwatch(&self, id: &str, poll_id: &str) -> Result<(), Error> {
        self.delete_key(watchers_pk(poll_id, watcher_shard(id)), id).await?;
        self.delete_key(connection_pk(id), &format!("{WATCHES}{poll_id}")).await
    }

    async fn disconnected(&self, id: &str) -> Result<(), Error> {
        let query = super::Query { index: None, key: "pk", value: connection_pk(id), limit: None, descending: false };
        let items: Vec<SubscriptionItem> = self.query_all(&query).await?;
        for item in &items {
            if let Some(poll_id) = item.sk.strip_prefix(WATCHES) {
                self.delete_key(watchers_pk(poll_id, watcher_shard(id)), id).await?;
            }
        }
        for item in items {
            self.delete_key(item.pk, &item.sk).await?;
        }
        Ok(())
    }

    async fn watchers_page(
        &self,
        poll_id: &str,
        shard: u32,
        now: u64,
        limit: u32,
        start: Option<&str>,
    ) -> Result<(Vec<Watcher>, Option<String>), Error> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let value = watchers_pk(poll_id, shard);
        let query = super::Query { index: None, key: "pk", value, limit: Some(limit), descending: false };
        let start = start.map(serde_json::from_str).transpose().map_err(Error::internal)?;
        let page = self.query_page::<SubscriptionItem>(&query, start).await?;
        let watchers = page
            .items
            .into_iter()
            .filter(|item| item.expires_at > now)
            .map(|item| Watcher { connection_id: item.sk, admitted: item.admitted.unwrap_or_default() });
        Ok((watchers.collect(), page.next.map(|next| next.to_string())))
    }
}

impl ballot_core::ports::LiveMarks for Store {
    async fn live_mark(&self, poll_id: &str, now: u64) -> Result<Option<Marked>, Error> {
        let item: Option<MarkItem> = self.get(mark_pk(poll_id), MARK).await?;
        Ok(item.filter(|item| item.watched_until > now).map(|item| Marked {
            mark: LiveMark { pushed_at_ms: item.pushed_at_ms, trailing_at_ms: item.trailing_at_ms },
            version: item.v,
        }))
    }

    async fn replace_live_mark(&self, poll_id: &str, read: &Marked, mark: &LiveMark) -> Result<bool, Error> {
        let mut values = HashMap::from([
            (":pushed".to_owned(), AttributeValue::N(mark.pushed_at_ms.to_string())),
            (":next".to_owned(), AttributeValue::N((read.version + 1).to_string())),
        ]);
        let mut update = "SET pushed_at_ms = :pushed, v = :next".to_owned();
        match mark.trailing_at_ms {
            Some(at) => {
                values.insert(":trailing".into(), AttributeValue::N(at.to_string()));
                update.push_str(", trailing_at_ms = :trailing");
            }
            None => update.push_str(" REMOVE trailing_at_ms"),
        }
        let condition = if read.version == 0 {
            "attribute_exists(watched_until) AND attribute_not_exists(v)"
        } else {
            values.insert(":v".into(), AttributeValue::N(read.version.to_string()));
            "attribute_exists(watched_until) AND v = :v"
        };
        let result = self
            .update_item(mark_pk(poll_id), MARK)
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(condition_held(result)?.is_some())
    }
}
