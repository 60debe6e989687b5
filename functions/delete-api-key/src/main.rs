//! `DELETE /v1/api-keys/{id}` (an editor or admin, for their own keys) → 204; no such key
//! of the caller's → 404. A revoked key is refused at once by every function (the meter of
//! `shared::api_keys` finds no key); the authorizer refuses it on its next call, at most
//! 300 s later (its cache time).

use ballot_core::{Error, api_keys::ApiKeys};
use shared::{ApiError, app::App, http, identity::caller_of};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let caller = caller_of(&req)?;
        let id = http::path_id(&req, "id")?;
        if !store.revoke_key(&caller.sub, &id).await? {
            return Err(ApiError::Domain(Error::NotFound));
        }
        tracing::info!(key = %id, "api key revoked");
        Ok(http::no_content())
    })
    .await
}
