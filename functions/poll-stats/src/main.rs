//! `GET /v1/polls/{id}/stats` (owner or admin) → `{"poll_id","hours":[{"hour",
//! "votes_cast","votes_changed"}]}`, oldest hour first, kept by the `poll-events`
//! consumer from the events queue (so a vote shows up within seconds, not at once).

use lambda_http::http::StatusCode;
use shared::{ApiError, app::App, auth::routes::may_change, http, identity::Caller};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.store(), |store, req| async move {
        let caller = Caller::of(&req)?;
        let poll_id = http::path_id(&req, "id")?;
        let stored = store.poll(&poll_id, false).await?.ok_or(ApiError::NotFound)?;
        if !may_change(&caller, &stored.poll.owner_id) {
            return Err(ApiError::Forbidden);
        }
        let hours = store.hourly_stats(&poll_id).await?;
        http::json(StatusCode::OK, &serde_json::json!({"poll_id": poll_id, "hours": hours}))
    })
    .await
}
