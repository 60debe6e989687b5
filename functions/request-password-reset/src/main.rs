//! `POST /v1/auth/password-reset` `{email}` → 202 "check your inbox" for every email: a
//! reset link goes to an account's address, a "no account here" mail to any other.
//! Limited per client address and per recipient (`ballot_core::registration`).

use ballot_core::accounts::ResetRequest;
use lambda_http::{Request, http::StatusCode};
use shared::{ApiError, app::App, body, http, mail::Desk};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.account_desk(), |desk, req| async move { request(&desk, &req).await }).await
}

async fn request(desk: &Desk, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let asked: ResetRequest = body::json(req)?;
    desk.registration().request_reset(&asked.email, &http::source_ip(req)).await?;
    http::json(StatusCode::ACCEPTED, &serde_json::json!({ "message": shared::mail::CHECK_YOUR_INBOX }))
}
