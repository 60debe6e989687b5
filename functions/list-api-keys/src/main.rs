//! `GET /v1/api-keys` (an editor or admin) → `{"api_keys":[{"id","name","scopes",
//! "created_at","expires_at","last_used_at"}]}`: the caller's own keys, oldest first,
//! never a secret. Expired keys stay listed until deleted.

use ballot_core::api_keys::ApiKeys;
use lambda_http::http::StatusCode;
use shared::{app::App, http, identity::caller_of};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let caller = caller_of(&req)?;
        let keys = store.keys_of(&caller.sub).await?;
        http::json(StatusCode::OK, &serde_json::json!({"api_keys": keys}))
    })
    .await
}
