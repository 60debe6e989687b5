//! One of ballot's own bearer tokens verified as the REST authorizer verifies it, for
//! every place that takes one: the authorizer and the WebSocket `$connect`. The signature
//! and claims are checked against the key set (read again, at most once per 10 s, when a
//! token fails on a set cached before a key rotation); an account's token is then checked
//! against the account (`ballot_core::signing_in::own_token_roles`): a disabled account
//! is refused and the roles are the account's now. The reason of a refusal goes to the
//! log; the token never does.

use ballot_core::access::Role;

use super::{
    keys::SigningKeys,
    token::{self, AccessClaims, TokenKind, TokenSettings},
};
use crate::{aws::secretsmanager, store::Store};

/// Whose token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub sub: String,
    pub roles: Vec<Role>,
    pub kind: TokenKind,
    /// Its expiry (epoch seconds).
    pub exp: u64,
    /// Whether its account's email is verified (never for guests).
    pub email_verified: bool,
    /// The scopes of an API key (`kind` [`TokenKind::ApiKey`]): the key reaches only the
    /// routes they name within `roles`.
    pub key: Option<KeyGrant>,
}

/// What an API key was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: String,
    pub scopes: Vec<ballot_core::api_keys::Scope>,
}

/// Why a token was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Forged, expired, malformed, or its account is disabled or gone: a 401.
    Token,
    /// A dependency failed (keys, table): not the caller's fault.
    Unavailable(String),
}

pub struct Verifier {
    pub keys: SigningKeys<secretsmanager::Client>,
    pub settings: TokenSettings,
    pub store: Store,
}

impl Verifier {
    /// `token`'s owner, with the account's roles.
    pub async fn verify(&self, token: &str) -> Result<Verified, Refused> {
        let claims = self.claims(token).await?;
        let admitted =
            ballot_core::signing_in::own_token_roles(&self.store, &claims.sub, claims.kind, claims.roles, claims.epoch)
                .await
                .map_err(|err| match err {
                    ballot_core::Error::Unauthenticated => Refused::Token,
                    other => unavailable(other),
                })?;
        Ok(Verified {
            sub: claims.sub,
            roles: admitted.roles,
            kind: claims.kind,
            exp: claims.exp,
            email_verified: admitted.email_verified,
            key: None,
        })
    }

    /// The claims of a token that verifies on the current key set, or on the set read
    /// again after a rotation.
    async fn claims(&self, token: &str) -> Result<AccessClaims, Refused> {
        let keys = self.keys.get().await.map_err(unavailable)?;
        let reason = match token::verify(&keys, &self.settings, token) {
            Ok(claims) => return Ok(claims),
            Err(reason) => reason,
        };
        let again = match self.keys.reload_if_due().await.map_err(unavailable)? {
            Some(reloaded) => token::verify(&reloaded, &self.settings, token),
            None => Err(reason),
        };
        again.map_err(|reason| {
            tracing::info!(%reason, "token refused");
            Refused::Token
        })
    }
}

fn unavailable(err: impl std::fmt::Display) -> Refused {
    tracing::error!(error = %err, "token verification unavailable");
    Refused::Unavailable(err.to_string())
}
