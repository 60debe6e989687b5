//! `POST /v1/auth/password-reset/confirm` `{token, password}` → 204: the new password is
//! set and every session of the account ends (its access tokens and refresh-token
//! families are refused from then on). A token that is unknown, used or expired → 400
//! naming `#/token`; a weak password → 400 naming `#/password`, and the link still works.

use ballot_core::accounts::NewPassword;
use lambda_http::Request;
use shared::{ApiError, app::App, body, http, mail::Desk};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.account_desk(), |desk, req| async move { reset(&desk, &req).await }).await
}

async fn reset(desk: &Desk, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let new: NewPassword = body::json(req)?;
    desk.registration().reset_password(&new.token, new.password).await?;
    Ok(http::no_content())
}
