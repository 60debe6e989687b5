//! Refresh tokens (RFC 9700 §4.14): opaque, 256 random bits, stored only as a SHA-256
//! hash, rotated on every use, in families. A family lives at most 30 days from sign-in;
//! each token at most 7 days idle. Using a token twice revokes its whole family (the
//! second user is a thief or the victim: both must sign in again). Of two concurrent
//! refreshes with one token, exactly one wins — the rotation is one conditional
//! transaction — and the loser gets `Invalid` without revoking (a race, not a replay).

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{Store, condition_held};
use crate::auth::token::now;
use ballot_core::{
    Error,
    ids::{random_id, random_token, sha256_hex},
    ports::{Rotated, SessionRefused},
};

pub const FAMILY_LIFETIME_SECS: u64 = 30 * 24 * 3600;
pub const IDLE_LIFETIME_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshItem {
    pk: String,
    sk: String,
    family_id: String,
    user_id: String,
    used: bool,
    expires_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FamilyItem {
    pk: String,
    sk: String,
    user_id: String,
    revoked: bool,
    expires_at: u64,
    /// The account's sign-in epoch when the family started.
    #[serde(default)]
    epoch: u64,
}

fn refresh_pk(token: &str) -> String {
    format!("REFRESH#{}", sha256_hex(token))
}

fn family_pk(id: &str) -> String {
    format!("FAMILY#{id}")
}

fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Store {
    fn refresh_put(
        &self,
        token: &str,
        family_id: &str,
        user_id: &str,
        expires_at: u64,
    ) -> Result<TransactWriteItem, Error> {
        self.put_new(&RefreshItem {
            pk: refresh_pk(token),
            sk: "REFRESH".into(),
            family_id: family_id.to_owned(),
            user_id: user_id.to_owned(),
            used: false,
            expires_at,
        })
    }

    /// Signs `user_id` in, in sign-in `epoch`: a new family and its first refresh token,
    /// which is returned.
    pub async fn start_session(&self, user_id: &str, epoch: u64) -> Result<String, Error> {
        let (token, family_id, now) = (random_token(32), random_id(), now());
        let family_expires = now + FAMILY_LIFETIME_SECS;
        let family = FamilyItem {
            pk: family_pk(&family_id),
            sk: "FAMILY".into(),
            user_id: user_id.to_owned(),
            revoked: false,
            expires_at: family_expires,
            epoch,
        };
        let family_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(&family).map_err(Error::internal)?))
            .build()
            .map_err(Error::internal)?;
        self.db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(family_put).build())
            .transact_items(self.refresh_put(&token, &family_id, user_id, now + IDLE_LIFETIME_SECS)?)
            .send()
            .await
            .map_err(Error::internal)?;
        Ok(token)
    }

    /// Exchanges `token` for the next of its family.
    pub async fn rotate_session(&self, token: &str) -> Result<Result<Rotated, SessionRefused>, Error> {
        if !looks_like_refresh_token(token) {
            return Ok(Err(SessionRefused::Invalid));
        }
        let Some(old) = self.get::<RefreshItem>(refresh_pk(token), "REFRESH").await? else {
            return Ok(Err(SessionRefused::Invalid));
        };
        let Some(family) = self.get::<FamilyItem>(family_pk(&old.family_id), "FAMILY").await? else {
            return Ok(Err(SessionRefused::Invalid));
        };
        let now = now();
        if old.used {
            self.revoke_family(&old.family_id).await?;
            tracing::warn!(family = %old.family_id, "refresh token reused: family revoked");
            crate::metrics::count(crate::metrics::Metric::RefreshTokenReuse, 1);
            return Ok(Err(SessionRefused::Reused));
        }
        if family.revoked || now >= old.expires_at || now >= family.expires_at {
            return Ok(Err(SessionRefused::Invalid));
        }
        let new_token = random_token(32);
        let mark_used = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(refresh_pk(token), "REFRESH")))
            .update_expression("SET used = :true")
            .condition_expression("used = :false")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(Error::internal)?;
        let family_live = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(family_pk(&old.family_id), "FAMILY")))
            .condition_expression("revoked = :false")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(Error::internal)?;
        let expires_at = (now + IDLE_LIFETIME_SECS).min(family.expires_at);
        let steps = vec![
            TransactWriteItem::builder().update(mark_used).build(),
            TransactWriteItem::builder().condition_check(family_live).build(),
            self.refresh_put(&new_token, &old.family_id, &old.user_id, expires_at)?,
        ];
        Ok(if self.transact(steps).await? {
            Ok(Rotated { user_id: old.user_id, epoch: family.epoch, token: new_token })
        } else {
            Err(SessionRefused::Invalid)
        })
    }

    /// Signs out: revokes the family of `token`, if it is one of ours. Unknown tokens are
    /// ignored, so the answer tells nothing.
    pub async fn end_session(&self, token: &str) -> Result<(), Error> {
        if !looks_like_refresh_token(token) {
            return Ok(());
        }
        if let Some(item) = self.get::<RefreshItem>(refresh_pk(token), "REFRESH").await? {
            self.revoke_family(&item.family_id).await?;
        }
        Ok(())
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), Error> {
        let result = self
            .update_item(family_pk(family_id), "FAMILY")
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        // TTL already removed the family: nothing is left to revoke.
        condition_held(result).map(drop)
    }
}

impl ballot_core::ports::Sessions for Store {
    async fn start_session(&self, user_id: &str, epoch: u64) -> Result<String, Error> {
        Store::start_session(self, user_id, epoch).await
    }

    async fn rotate_session(&self, token: &str) -> Result<Result<Rotated, SessionRefused>, Error> {
        Store::rotate_session(self, token).await
    }
}
