//! Every request an API key makes is metered on the key's own item before the function
//! runs ([`crate::http::serve`]): at most `API_KEY_LIMIT_PER_MINUTE` per key and minute
//! (429 beyond, with `Retry-After`), and `last_used_at` moves. The same conditional write
//! fails for a key that is revoked or expired, so such a key is refused (401) at once,
//! even while API Gateway still holds the authorizer's cached answer for it.
//!
//! Requests of JWTs pass untouched: the meter costs one write per key request only.

use lambda_http::Request;

use crate::{
    error::ApiError,
    identity::api_key_of,
    store::{Store, api_keys::Metered},
};

/// Meters the requests of API keys.
#[derive(Debug, Clone)]
pub struct KeyMeter {
    pub store: Store,
    pub per_minute: u32,
}

impl KeyMeter {
    /// Counts `req` against its key, if an API key made it.
    pub async fn admit(&self, req: &Request) -> Result<(), ApiError> {
        let Some((owner, key)) = api_key_of(req)? else { return Ok(()) };
        let now = ballot_core::clock::epoch_secs();
        let now_text = ballot_core::clock::rfc3339_now();
        match self.store.meter_key(&owner, &key, self.per_minute, (now, &now_text)).await? {
            Metered::Counted => Ok(()),
            Metered::Full { retry_after_secs } => {
                tracing::info!(key = %key, "api key over its rate limit");
                Err(ballot_core::Error::TooManyRequests { retry_after_secs }.into())
            }
            Metered::Gone => {
                tracing::info!(key = %key, "api key revoked or expired");
                Err(ballot_core::Error::Unauthenticated.into())
            }
        }
    }
}
