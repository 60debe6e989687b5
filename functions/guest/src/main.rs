//! `POST /v1/auth/guest`: a one-hour access token for an anonymous voter (role `guest`,
//! a fresh random `sub`, no refresh token), limited per client address.

use ballot_core::ids;
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{
        Role,
        accounts::Tokens,
        keys::SigningKeys,
        token::{self, TokenKind, TokenSettings},
    },
    aws::secretsmanager,
    body, http,
    {config::Window, store::Store},
};

/// The guest endpoint takes no fields: an empty body or `{}`.
#[derive(serde::Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct NoFields {}

struct Deps {
    keys: SigningKeys<secretsmanager::Client>,
    store: Store,
    settings: TokenSettings,
    per_address: Window,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let limits = &app.config.limits;
    let deps = Deps {
        keys: app.signing_keys(),
        store: app.store(),
        settings: app.config.tokens.clone(),
        per_address: limits.window(limits.guests_per_address),
    };
    http::serve_with(app.cors(), deps, |deps, req| async move { guest(&deps, &req).await }).await
}

async fn guest(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    body::empty_or_json::<NoFields>(req)?;
    deps.store.take_slot("guest-address", &http::source_ip(req), deps.per_address).await?;
    let keys = deps.keys.get().await?;
    let sub = format!("guest-{}", ids::random_id());
    let (access_token, expires_in) =
        token::issue(&keys, &deps.settings, &sub, &[Role::Guest], TokenKind::Guest, ids::random_id())
            .map_err(ApiError::internal)?;
    http::json(StatusCode::OK, &Tokens::bearer(access_token, expires_in, None))
}
