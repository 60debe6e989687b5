//! `POST /v1/api-keys` `{"name","scopes","expires_at"?}` (an editor or admin, signed in
//! with a token; never with a key) → 201 `{"id","name","scopes","created_at","expires_at",
//! "last_used_at","key"}` and `Location`. The key (`bk_…`) is shown only here and stored
//! only as its SHA-256; the rules are `ballot_core::api_keys::create_key`, at most
//! `KEYS_MAX` keys per account (409 beyond). No `Idempotency-Key`: a replay would have to
//! keep the key to show it again; a retried creation makes a second key, which its owner
//! can delete.

use ballot_core::api_keys::create_key;
use lambda_http::http::{StatusCode, header};
use shared::{app::App, body, clock::System, http, identity::caller_of};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let caller = caller_of(&req)?;
        let (key, secret) = create_key(&*store, &System, &caller, body::json(&req)?).await?;
        let mut answer = serde_json::to_value(&key).map_err(shared::ApiError::internal)?;
        answer["key"] = serde_json::Value::String(secret);
        let location = format!("/v1/api-keys/{}", key.id);
        http::with_header(http::json(StatusCode::CREATED, &answer)?, header::LOCATION, &location)
    })
    .await
}
