//! `GET /v1/polls/{id}/stats` (owner or admin) → `{"poll_id","hours":[{"hour",
//! "votes_cast","votes_changed"}]}`, oldest hour first, kept by the stream tally beside
//! the counts (so a vote shows up within the stream's delay, not at once).

use lambda_http::http::StatusCode;
use shared::{app::App, http, manage::owned_poll};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let poll = owned_poll(&store, &req).await?;
        let hours = store.hourly_stats(&poll.id).await?;
        http::json(StatusCode::OK, &serde_json::json!({"poll_id": poll.id, "hours": hours}))
    })
    .await
}
