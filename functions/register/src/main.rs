//! `POST /v1/auth/register` `{email, password, display_name}` → 202 "check your inbox",
//! whether or not the email has an account (a new one gets a verification link, a taken
//! one a mail saying so). The rules (a limit per client address, the password policy,
//! role `editor`, one account per email, mail limited per recipient) are
//! `ballot_core::registration`; the CAPTCHA check, when it is on, is `shared::captcha`.

use lambda_http::{Request, http::StatusCode};
use shared::{ApiError, app::App, aws::secretsmanager, body, captcha::Captcha, http, mail::Desk};

struct Deps {
    desk: Desk,
    captcha: Option<Captcha<secretsmanager::Client>>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { desk: app.account_desk(), captcha: app.captcha() };
    http::serve_with(app.edge(), deps, |deps, req| async move { register(&deps, &req).await }).await
}

async fn register(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let registration = body::json(req)?;
    if let Some(captcha) = &deps.captcha {
        captcha.check(req).await?;
    }
    deps.desk.registration().register(registration, &http::source_ip(req)).await?;
    http::json(StatusCode::ACCEPTED, &serde_json::json!({ "message": shared::mail::CHECK_YOUR_INBOX }))
}
