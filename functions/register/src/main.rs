//! `POST /v1/auth/register` `{email, password, display_name}` → 202 "check your inbox",
//! whether or not the email has an account (a new one gets a verification link, a taken
//! one a mail saying so). The rules (a limit per client address, the password policy,
//! role `editor`, one account per email, mail limited per recipient) are
//! `ballot_core::registration`.

use lambda_http::{Request, http::StatusCode};
use shared::{ApiError, app::App, body, http, mail::Desk};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.account_desk(), |desk, req| async move { register(&desk, &req).await }).await
}

async fn register(desk: &Desk, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    desk.registration().register(body::json(req)?, &http::source_ip(req)).await?;
    http::json(StatusCode::ACCEPTED, &serde_json::json!({ "message": shared::mail::CHECK_YOUR_INBOX }))
}
