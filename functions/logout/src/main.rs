//! `POST /v1/auth/logout` `{refresh_token}` → 204; the token's whole family is revoked.
//! An unknown token also gets 204, so the answer tells nothing about it.

use ballot_core::accounts::RefreshToken;
use shared::{ApiError, app::App, body, http};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let input: RefreshToken = body::json(&req)?;
        store.end_session(&input.refresh_token).await?;
        Ok::<_, ApiError>(http::no_content())
    })
    .await
}
