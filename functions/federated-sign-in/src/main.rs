//! `POST /v1/auth/federated` `{id_token}` → 200 tokens: a trusted issuer's ID token
//! (`OIDC_ISSUERS`, verified as the authorizer verifies it) exchanged for ballot's access
//! and refresh tokens. The first exchange of an identity creates its account (`viewer`)
//! and links it; this is the only place that does, so the authorizer, which parses every
//! bearer token, never writes. The rules are `ballot_core::signing_in::federated_sign_in`.
//!
//! Every refusal of the ID token (not an issuer's, a bad signature, a wrong audience,
//! expired) is the same 401; an issuer whose keys can't be fetched (and none cached) is a
//! 503.

// The future of one exchange (use case → store → SDK) nests deeper than rustc's default
// layout query depth of 128, as the authorizer's does.
#![recursion_limit = "256"]

use ballot_core::{Error, accounts::IdTokenExchange, signing_in};
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{
        accounts::Tokens,
        federation::{Federation, Refusal, parse_issuers},
        issuer::Issuer,
    },
    aws::secretsmanager,
    body, http,
    store::Store,
};

struct Deps {
    store: Store,
    issuer: Issuer<secretsmanager::Client>,
    federation: Federation,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let issuers = parse_issuers(&std::env::var("OIDC_ISSUERS").unwrap_or_default())?;
    let deps = Deps { store: app.store(), issuer: app.issuer(), federation: Federation::new(issuers) };
    http::serve_with(app.edge(), deps, |deps, req| async move { exchange(&deps, &req).await }).await
}

async fn exchange(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let IdTokenExchange { id_token } = body::json(req)?;
    let identity = deps.federation.verify(&id_token).await.map_err(|refusal| match refusal {
        Refusal::Token(reason) => {
            tracing::info!(%reason, "ID token refused");
            ApiError::from(Error::Unauthenticated)
        }
        Refusal::Unavailable(reason) => {
            tracing::warn!(%reason, "the issuer's keys are unavailable");
            ApiError::from(Error::Unavailable("The identity provider's keys can't be had now; retry.".into()))
        }
    })?;
    let who = (identity.issuer.as_str(), identity.subject.as_str(), identity.email.as_deref());
    let issued = signing_in::federated_sign_in(&deps.store, &deps.issuer, &deps.store, who).await?;
    http::json(StatusCode::OK, &Tokens::from(issued))
}
