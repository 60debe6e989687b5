//! Fixed-window rate limits kept in DynamoDB: one counter item per (scope, key, window),
//! incremented atomically with a condition, so the limit holds under any number of
//! parallel requests (no read-then-write). Keys are hashed (emails and IPs are not stored).

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, condition_held};
use ballot_core::{Error, clock::epoch_secs as now, ids::sha256_hex, ports::Limit};

use crate::config::{Limits, Window};

/// A slot taken in a window, which can be given back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pk: String,
}

impl Store {
    /// Takes one slot of `window` for `key` in `scope`; `TooManyRequests` (with the seconds
    /// until the window ends) when it is full.
    pub async fn take_slot(&self, scope: &str, key: &str, window: Window) -> Result<Slot, Error> {
        let now = now();
        let (pk, start, seconds) = window_pk(scope, key, window.seconds, now);
        let result = self
            .update_item(pk.clone(), "LIMIT")
            .update_expression("ADD slots :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(slots) OR slots < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(window.limit.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N((start + seconds).to_string()))
            .send()
            .await;
        match condition_held(result)? {
            Some(_) => Ok(Slot { pk }),
            None => Err(Error::TooManyRequests { retry_after_secs: (start + seconds - now).max(1) }),
        }
    }

    /// How many slots of `scope` for `key` the window holding `now` has taken (for
    /// operators and tests).
    pub async fn slots_taken(&self, scope: &str, key: &str, window_secs: u64, now: u64) -> Result<u64, Error> {
        #[derive(serde::Deserialize)]
        struct Counter {
            slots: u64,
        }
        let (pk, ..) = window_pk(scope, key, window_secs, now);
        Ok(self.get::<Counter>(pk, "LIMIT").await?.map_or(0, |c| c.slots))
    }

    /// Returns a slot (e.g. a login that succeeded does not count as a failure).
    pub async fn give_back(&self, slot: Slot) -> Result<(), Error> {
        let result = self
            .update_item(slot.pk, "LIMIT")
            .update_expression("ADD slots :minus_one")
            .condition_expression("slots > :zero")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        // Already at zero: nothing to give back.
        condition_held(result).map(drop)
    }
}

/// The counter item of `key`'s window holding `now`: (its key, the window's start, its length).
fn window_pk(scope: &str, key: &str, seconds: u64, now: u64) -> (String, u64, u64) {
    let seconds = seconds.max(1);
    let start = now - now % seconds;
    (format!("LIMIT#{scope}#{}#{start}", sha256_hex(key)), start, seconds)
}

/// The limits of signing in on the table, each sized by configuration.
pub struct RateLimits {
    pub store: Store,
    pub limits: Limits,
}

impl RateLimits {
    fn window(&self, limit: Limit) -> Window {
        let limits = &self.limits;
        limits.window(match limit {
            Limit::LoginAddress => limits.logins_per_address,
            Limit::LoginAccountAddress => limits.logins_per_account_address,
            Limit::LoginAccount => limits.logins_per_account,
            Limit::LoginAccountAddressOnceFull => ballot_core::ports::ONCE_FULL,
            Limit::GuestAddress => limits.guests_per_address,
            Limit::RegisterAddress => limits.registrations_per_address,
            Limit::ResetAddress => limits.resets_per_address,
            Limit::MailTo => limits.mails_per_recipient,
        })
    }
}

impl ballot_core::ports::Limits for RateLimits {
    type Slot = Slot;

    async fn take_slot(&self, limit: Limit, key: &str) -> Result<Slot, Error> {
        self.store.take_slot(limit.scope(), key, self.window(limit)).await
    }

    async fn give_back(&self, slot: Slot) -> Result<(), Error> {
        self.store.give_back(slot).await
    }
}
