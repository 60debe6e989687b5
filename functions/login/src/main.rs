//! `POST /v1/auth/login` `{email, password}` → 200 tokens. The rules (the same 401 after
//! the same argon2 work for an unknown email or a wrong password; three failure limits,
//! taken before the password is checked and given back when it was right) are
//! `ballot_core::signing_in`.

use ballot_core::signing_in::SignIn;
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{accounts::Tokens, issuer::Issuer, password},
    aws::secretsmanager,
    body, http,
    metrics::{self, Metric},
    store::{Store, limits::RateLimits},
};

struct Deps {
    store: Store,
    limits: RateLimits,
    issuer: Issuer<secretsmanager::Client>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    password::warm_up();
    let deps = Deps { store: app.store(), limits: app.rate_limits(), issuer: app.issuer() };
    http::serve_with(app.edge(), deps, |deps, req| async move { login(&deps, &req).await }).await
}

async fn login(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let sign_in = SignIn {
        accounts: &deps.store,
        limits: &deps.limits,
        passwords: &password::Argon2id,
        tokens: &deps.issuer,
        sessions: &deps.store,
    };
    let issued = match sign_in.login(body::json(req)?, &http::source_ip(req)).await {
        Ok(issued) => issued,
        Err(refused @ ballot_core::Error::TooManyRequests { .. }) => {
            metrics::count(Metric::LoginsRefused, 1);
            return Err(refused.into());
        }
        Err(other) => return Err(other.into()),
    };
    http::json(StatusCode::OK, &Tokens::from(issued))
}
