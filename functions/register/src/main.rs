//! `POST /v1/auth/register` `{email, password, display_name}` → 201 `{"user": …}`. The
//! rules (a limit per client address, password policy, role `editor`, one account per
//! email) are
//! `ballot_core::signing_in::register`.

use ballot_core::signing_in;
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError, app::App, auth::password::Argon2id, body, clock::System, http, store::Store, store::limits::RateLimits,
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), limits: app.rate_limits() };
    http::serve_with(app.cors(), deps, |deps, req| async move { register(&deps, &req).await }).await
}

struct Deps {
    store: Store,
    limits: RateLimits,
}

async fn register(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let new = body::json(req)?;
    let address = http::source_ip(req);
    let user = signing_in::register(&deps.store, &deps.limits, &Argon2id, &System, new, &address).await?;
    http::json(StatusCode::CREATED, &serde_json::json!({ "user": user }))
}
