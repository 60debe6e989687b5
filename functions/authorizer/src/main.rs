//! The Lambda `REQUEST` authorizer of every route that needs a token.
//!
//! - ballot's own tokens (EdDSA) are verified by `shared::auth::authorizer`; an account's
//!   token is also checked against the account (`ballot_core::signing_in::own_token_roles`),
//!   so a disabled account is refused and role changes apply within the authorizer's
//!   cache TTL. Guests have no account.
//! - ID tokens of trusted issuers (RS256/ES256, `OIDC_ISSUERS`) are verified by
//!   `shared::auth::federation` and speak for the account linked to them
//!   (`ballot_core::signing_in::federated_account`); an identity not yet exchanged at
//!   `POST /v1/auth/federated`, which alone creates accounts, is refused.
//!
//! - API keys (`bk_…`) are checked by `ballot_core::api_keys::admit_key` (the key's item,
//!   then its owner's account): the policy lists the routes of the key's scopes within the
//!   owner's roles now (`ballot_core::access::key_policy`).
//!
//! The authorizer parses untrusted tokens, so it only reads: its policy grants no write.
//!
//! Every refusal is `Unauthorized` (401); a dependency failure is a 500, never a 401.

// The future of one authorization (use case → store → SDK) nests deeper than rustc's
// default layout query depth of 128.
#![recursion_limit = "256"]

use std::sync::Arc;

use ballot_core::{api_keys, clock::Clock, signing_in};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{
    app::App,
    auth::{
        authorizer,
        federation::{Federation, Refusal, parse_issuers},
        token::TokenKind,
        verifier::{KeyGrant, Refused, Verified, Verifier},
    },
    clock::System,
    telemetry,
};
use tracing::Instrument;

struct Deps {
    verifier: Verifier,
    federation: Federation,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let issuers = parse_issuers(&std::env::var("OIDC_ISSUERS").unwrap_or_default())?;
    let deps = Arc::new(Deps { verifier: app.verifier(), federation: Federation::new(issuers) });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = Arc::clone(&deps);
        let request_id = event.payload["requestContext"]["requestId"].as_str().unwrap_or_default().to_owned();
        let span = telemetry::request_span(&request_id, Some(&event.context));
        async move { authorize(&deps, &event.payload).await }.instrument(span)
    }))
    .await
}

async fn authorize(deps: &Deps, event: &Value) -> Result<Value, Diagnostic> {
    let token = authorizer::bearer(event).map_err(unauthorized)?;
    let who = if api_keys::is_key(token) {
        let store = &deps.verifier.store;
        let admitted = api_keys::admit_key(store, store, &System, token).await.map_err(refused)?;
        Verified {
            sub: admitted.owner.id,
            roles: admitted.owner.roles,
            kind: TokenKind::ApiKey,
            // Bounds what a cached answer vouches for; `serve` refuses past it.
            exp: admitted.expires.unwrap_or_else(|| System.epoch_secs() + TokenKind::ApiKey.ttl_secs()),
            email_verified: admitted.owner.email_verified,
            key: Some(KeyGrant { id: admitted.key_id, scopes: admitted.scopes }),
        }
    } else if Federation::handles(token) {
        let identity = deps.federation.verify(token).await.map_err(|refusal| match refusal {
            Refusal::Token(reason) => {
                tracing::info!(%reason, "federated token refused");
                unauthorized(authorizer::Unauthorized)
            }
            Refusal::Unavailable(reason) => unavailable(reason),
        })?;
        let account = signing_in::federated_account(&deps.verifier.store, &identity.issuer, &identity.subject)
            .await
            .map_err(refused)?;
        Verified {
            sub: account.id,
            roles: account.roles,
            kind: TokenKind::Federated,
            exp: identity.exp,
            email_verified: account.email_verified,
            key: None,
        }
    } else {
        deps.verifier.verify(token).await.map_err(|refusal| match refusal {
            Refused::Token => unauthorized(authorizer::Unauthorized),
            Refused::Unavailable(reason) => unavailable(reason),
        })?
    };
    authorizer::answer(event, &who).map_err(unauthorized)
}

/// A refusal by the rules is a 401; a failed dependency is not.
fn refused(err: ballot_core::Error) -> Diagnostic {
    match err {
        ballot_core::Error::Unauthenticated => unauthorized(authorizer::Unauthorized),
        other => unavailable(other),
    }
}

/// API Gateway answers 401 for exactly the message `Unauthorized`.
fn unauthorized(refusal: authorizer::Unauthorized) -> Diagnostic {
    Diagnostic { error_type: "Unauthorized".into(), error_message: refusal.to_string() }
}

/// A dependency failed: API Gateway answers 500 (`AUTHORIZER_FAILURE`).
fn unavailable(err: impl std::fmt::Display) -> Diagnostic {
    tracing::error!(error = %err, "authorizer dependency unavailable");
    shared::metrics::count(shared::metrics::Metric::AuthorizerFailures, 1);
    Diagnostic { error_type: "AuthorizerUnavailable".into(), error_message: "authorizer unavailable".into() }
}
