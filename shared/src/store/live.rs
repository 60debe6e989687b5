//! Live results' connections and subscriptions in the table.
//!
//! - `LIVE#<connection>` / `CONNECTION`: who holds it (`sub`, `roles`, `token_kind`,
//!   `token_expires_at`; none for an anonymous watcher) and `expires_at`, API Gateway's
//!   2 hours.
//! - `POLL#<poll>#WATCHERS#<shard>` / `<connection>`: a watcher of a poll, spread over
//!   [`WATCHER_SHARDS`] partitions by connection id, so reading one poll's watchers page
//!   by page is never one hot key.
//! - `LIVE#<connection>` / `WATCHES#<poll>`: the same subscription seen from the
//!   connection, so `$disconnect` finds what to remove.
//!
//! Every item carries `expires_at` (the table's TTL attribute): TTL deletion is late in
//! AWS and absent locally, so readers filter on it. None of them has `cast_at` or is a
//! poll item, so the tally's stream filter never passes their records.

use ballot_core::{
    Error,
    access::{Principal, Role, TokenKind},
    live::{Connection, WATCHER_SHARDS, watcher_shard},
};
use serde::{Deserialize, Serialize};

use super::Store;

const CONNECTION: &str = "CONNECTION";
const WATCHES: &str = "WATCHES#";

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
    expires_at: u64,
}

fn connection_pk(id: &str) -> String {
    format!("LIVE#{id}")
}

/// The partition of poll `poll_id`'s watchers that holds shard `shard`.
pub fn watchers_pk(poll_id: &str, shard: u32) -> String {
    format!("POLL#{poll_id}#WATCHERS#{shard}")
}

/// Every partition of poll `poll_id`'s watchers (the purge removes them).
pub fn all_watchers_pks(poll_id: &str) -> impl Iterator<Item = String> + '_ {
    (0..WATCHER_SHARDS).map(move |shard| watchers_pk(poll_id, shard))
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
                (Some(sub), Some(token_kind)) => Some(Principal { sub, roles: item.roles, token_kind }),
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

    async fn watch(&self, connection: &Connection, poll_id: &str) -> Result<(), Error> {
        // The connection's side first: `$disconnect` then always finds the watcher item.
        let expires_at = connection.expires_at;
        let mine =
            SubscriptionItem { pk: connection_pk(&connection.id), sk: format!("{WATCHES}{poll_id}"), expires_at };
        self.put_item_of(&mine).await?;
        let shard = watcher_shard(&connection.id);
        self.put_item_of(&SubscriptionItem { pk: watchers_pk(poll_id, shard), sk: connection.id.clone(), expires_at })
            .await
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
}

/// The watcher items of one partition, page by page (for the pushers).
impl Store {
    /// Connection ids watching poll `poll_id` in shard `shard` that have not expired by
    /// `now`: one page of at most `limit`, from `start`; and where the next page starts.
    pub async fn watchers_page(
        &self,
        poll_id: &str,
        shard: u32,
        now: u64,
        limit: i32,
        start: Option<serde_json::Value>,
    ) -> Result<(Vec<String>, Option<serde_json::Value>), Error> {
        let query = super::Query {
            index: None,
            key: "pk",
            value: watchers_pk(poll_id, shard),
            limit: Some(limit),
            descending: false,
        };
        let page = self.query_page::<SubscriptionItem>(&query, start).await?;
        let ids = page.items.into_iter().filter(|item| item.expires_at > now).map(|item| item.sk).collect();
        Ok((ids, page.next))
    }
}
