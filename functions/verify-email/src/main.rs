//! `POST /v1/auth/verify-email` `{token}` → 200 `{"user": …}`, now verified; a token that
//! is unknown, used or expired → 400 naming `#/token` (`ballot_core::registration`).

use ballot_core::accounts::LinkBody;
use lambda_http::{Request, http::StatusCode};
use shared::{ApiError, app::App, body, http, mail::Desk};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.account_desk(), |desk, req| async move { verify(&desk, &req).await }).await
}

async fn verify(desk: &Desk, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let link: LinkBody = body::json(req)?;
    let user = desk.registration().verify_email(&link.token).await?;
    http::json(StatusCode::OK, &serde_json::json!({ "user": user }))
}
