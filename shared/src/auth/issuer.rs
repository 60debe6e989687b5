//! Signing access tokens for the use cases ([`ballot_core::ports::Tokens`]): the current
//! key of the cached signing key set, ballot's `iss` and `aud`, a fresh random `jti`.

use ballot_core::{
    Error,
    access::{Role, TokenKind},
    ids,
};

use super::{keys::SigningKeys, token};
use crate::{ApiError, config::TokenSettings, secrets::SecretSource};

/// Issues ballot's access tokens.
pub struct Issuer<S> {
    pub keys: SigningKeys<S>,
    pub settings: TokenSettings,
}

impl<S: SecretSource + Send + Sync> ballot_core::ports::Tokens for Issuer<S> {
    async fn issue(&self, sub: &str, roles: &[Role], kind: TokenKind, epoch: u64) -> Result<(String, u64), Error> {
        let keys = self.keys.get().await.map_err(ApiError::into_domain)?;
        token::issue_in_epoch(&keys, &self.settings, (sub, roles, kind), ids::random_id(), epoch)
            .map_err(Error::internal)
    }
}
