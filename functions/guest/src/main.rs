//! `POST /v1/auth/guest`: a one-hour access token for an anonymous voter (role `guest`,
//! a fresh random `sub`, no refresh token), limited per client address
//! (`ballot_core::signing_in::guest`), and behind the CAPTCHA check when it is on
//! (`shared::captcha`).

use ballot_core::signing_in;
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{accounts::Tokens, issuer::Issuer},
    aws::secretsmanager,
    body,
    captcha::Captcha,
    http,
    store::limits::RateLimits,
};

struct Deps {
    issuer: Issuer<secretsmanager::Client>,
    limits: RateLimits,
    captcha: Option<Captcha<secretsmanager::Client>>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { issuer: app.issuer(), limits: app.rate_limits(), captcha: app.captcha() };
    http::serve_with(app.edge(), deps, |deps, req| async move { guest(&deps, &req).await }).await
}

async fn guest(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    body::no_fields(req)?;
    if let Some(captcha) = &deps.captcha {
        captcha.check(req).await?;
    }
    let issued = signing_in::guest(&deps.limits, &deps.issuer, &http::source_ip(req)).await?;
    http::json(StatusCode::OK, &Tokens::from(issued))
}
