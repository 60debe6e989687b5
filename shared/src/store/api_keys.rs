//! API keys ([`ballot_core::api_keys`]) in the table:
//! - `APIKEYS#<owner>` / `<key id>` — a key ([`KeyItem`]): its name, scopes, expiry, the
//!   SHA-256 of its secret, when it was last used, and its rate window (`win`, the minute
//!   it counts, and `slots` taken in it);
//! - `APIKEYCOUNT#<owner>` / `COUNT` — how many keys the owner holds, which a creation
//!   raises in the same transaction as long as it stays within `KEYS_MAX`.
//!
//! A key's expiry is `expires` (epoch seconds), not the table's TTL attribute
//! `expires_at`: an expired key stays listed (and counted) until its owner deletes it.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use super::{Query, Store, condition_held_or_item};
use ballot_core::{
    Error,
    api_keys::{ApiKey, ApiKeys, KEYS_MAX, Scope, StoredKey},
};

fn keys_pk(owner_id: &str) -> String {
    format!("APIKEYS#{owner_id}")
}

fn count_pk(owner_id: &str) -> String {
    format!("APIKEYCOUNT#{owner_id}")
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    /// The key's id.
    sk: String,
    owner_id: String,
    name: String,
    scopes: Vec<Scope>,
    created_at: String,
    // Absent rather than NULL when unset: the meter's conditions ask `attribute_not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<u64>,
    secret_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_used_at: Option<String>,
}

impl From<KeyItem> for StoredKey {
    fn from(item: KeyItem) -> Self {
        StoredKey {
            owner_id: item.owner_id,
            key: ApiKey {
                id: item.sk,
                name: item.name,
                scopes: item.scopes,
                created_at: item.created_at,
                expires_at: item.expires_at_text,
                last_used_at: item.last_used_at,
            },
            secret_hash: item.secret_hash,
            expires: item.expires,
        }
    }
}

/// What metering one request of a key came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metered {
    /// Counted; the request may go on.
    Counted,
    /// The key's window is full: retry after this many seconds.
    Full { retry_after_secs: u64 },
    /// The key is revoked or expired.
    Gone,
}

/// How often metering tries again when concurrent requests move the window under it.
const METER_ATTEMPTS: usize = 4;

impl Store {
    /// Counts one request of the owner's key `id` in the minute `now` falls in (at most
    /// `per_minute`) and records `now_text` as its last use, in one conditional write per
    /// attempt (two at a window's start). A revoked or expired key is [`Metered::Gone`].
    pub async fn meter_key(
        &self,
        owner_id: &str,
        id: &str,
        per_minute: u32,
        (now, now_text): (u64, &str),
    ) -> Result<Metered, Error> {
        let window = now / 60;
        let retry_after_secs = (window + 1) * 60 - now;
        // An update of the key, only while it exists and has not expired, with the values
        // both writes name: `:t` (now), `:one`, `:now` and `:w` (this minute).
        let key_update = |expression: &str, condition: &str| {
            self.update_item(keys_pk(owner_id), id)
                .update_expression(expression)
                .condition_expression(format!(
                    "attribute_exists(pk) AND (attribute_not_exists(expires) OR expires > :now) AND {condition}"
                ))
                .expression_attribute_values(":t", AttributeValue::S(now_text.to_owned()))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .expression_attribute_values(":w", AttributeValue::N(window.to_string()))
        };
        for _ in 0..METER_ATTEMPTS {
            let counted = key_update("SET last_used_at = :t ADD slots :one", "win = :w AND slots < :limit")
                .expression_attribute_values(":limit", AttributeValue::N(per_minute.to_string()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match condition_held_or_item(counted)? {
                Ok(_) => return Ok(Metered::Counted),
                Err(None) => return Ok(Metered::Gone),
                Err(Some(old)) => old,
            };
            let number = |name: &str| old.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok());
            if number("expires").is_some_and(|at| at <= now) {
                return Ok(Metered::Gone);
            }
            if number("win") == Some(window) {
                return Ok(Metered::Full { retry_after_secs });
            }
            let opened =
                key_update("SET win = :w, slots = :one, last_used_at = :t", "(attribute_not_exists(win) OR win < :w)")
                    .send()
                    .await;
            if condition_held_or_item(opened)?.is_ok() {
                return Ok(Metered::Counted);
            }
            // Another request opened this window (or the key went): count again.
        }
        Ok(Metered::Full { retry_after_secs })
    }
}

impl ApiKeys for Store {
    async fn create_key(&self, key: &StoredKey) -> Result<(), Error> {
        let item = KeyItem {
            pk: keys_pk(&key.owner_id),
            sk: key.key.id.clone(),
            owner_id: key.owner_id.clone(),
            name: key.key.name.clone(),
            scopes: key.key.scopes.clone(),
            created_at: key.key.created_at.clone(),
            expires_at_text: key.key.expires_at.clone(),
            expires: key.expires,
            secret_hash: key.secret_hash.clone(),
            last_used_at: None,
        };
        let count = self.count_step(count_pk(&key.owner_id), 1, Some(KEYS_MAX))?;
        if self.transact(vec![self.put_new(&item)?, count]).await? {
            Ok(())
        } else {
            Err(Error::Conflict(format!("An account holds at most {KEYS_MAX} API keys; delete one first.")))
        }
    }

    async fn keys_of(&self, owner_id: &str) -> Result<Vec<ApiKey>, Error> {
        let query = Query { index: None, key: "pk", value: keys_pk(owner_id), limit: None, descending: false };
        let items: Vec<KeyItem> = self.query_all(&query).await?;
        let mut keys: Vec<ApiKey> = items.into_iter().map(|item| StoredKey::from(item).key).collect();
        keys.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, owner_id: &str, id: &str) -> Result<bool, Error> {
        self.transact(vec![
            self.delete_existing(keys_pk(owner_id), id)?,
            self.count_step(count_pk(owner_id), -1, None)?,
        ])
        .await
    }

    async fn stored_key(&self, owner_id: &str, id: &str) -> Result<Option<StoredKey>, Error> {
        Ok(self.get::<KeyItem>(keys_pk(owner_id), id).await?.map(StoredKey::from))
    }
}
