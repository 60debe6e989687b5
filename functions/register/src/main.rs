//! `POST /v1/auth/register` `{email, password, display_name}` → 201 `{"user": …}`. The
//! rules (password policy, role `editor`, one account per email) are
//! `ballot_core::signing_in::register`.

use ballot_core::signing_in;
use lambda_http::{Request, http::StatusCode};
use shared::{ApiError, app::App, auth::password::Argon2id, body, clock::System, http, store::Store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.store(), |store, req| async move { register(&store, &req).await }).await
}

async fn register(store: &Store, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let user = signing_in::register(store, &Argon2id, &System, body::json(req)?).await?;
    http::json(StatusCode::CREATED, &serde_json::json!({ "user": user }))
}
