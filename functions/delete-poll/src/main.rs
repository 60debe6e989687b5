//! `DELETE /v1/polls/{id}` (owner or admin) → 204. The poll is gone for every reader at
//! once (a tombstone); the tally relays `poll.deleted` from the tombstone's stream record,
//! and the events consumer removes its ballots, counts and statistics. Deleting again
//! while the purge runs answers 204 (`ballot_core::managing::delete_poll`).

use ballot_core::managing::delete_poll;
use shared::{app::App, clock::System, http, identity::caller_of};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let (caller, id) = (caller_of(&req)?, http::path_id(&req, "id")?);
        let poll = delete_poll(&*store, &System, &id, &caller).await?;
        tracing::info!(poll = %poll.id, "poll deleted");
        Ok(http::no_content())
    })
    .await
}
