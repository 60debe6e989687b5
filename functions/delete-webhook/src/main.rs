//! `DELETE /v1/polls/{id}/webhooks/{webhook_id}` (owner or admin) → 204; no such
//! webhook → 404. Nothing more is delivered to it.

use shared::{ApiError, app::App, http, manage::owned_poll};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let poll = owned_poll(&store, &req).await?;
        let webhook_id = http::path_id(&req, "webhook_id")?;
        if !store.delete_webhook(&poll.id, &webhook_id).await? {
            return Err(ApiError::Domain(ballot_core::Error::NotFound));
        }
        tracing::info!(poll = %poll.id, webhook = %webhook_id, "webhook deleted");
        Ok(http::no_content())
    })
    .await
}
