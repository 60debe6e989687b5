//! `GET /v1/polls/{id}/webhooks` (owner or admin) → `{"webhooks":[{"id","url","events",
//! "created_at","disabled_at","last_error"}]}`, without secrets.

use lambda_http::http::StatusCode;
use shared::{app::App, http, manage::owned_poll};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let poll = owned_poll(&store, &req).await?;
        let webhooks = store.webhooks(&poll.id).await?;
        http::json(StatusCode::OK, &serde_json::json!({"webhooks": webhooks}))
    })
    .await
}
