//! `DELETE /v1/polls/{id}` (owner or admin) → 204. The poll is gone for every reader at
//! once (a tombstone); `poll.deleted` on the events queue makes the consumer remove its
//! ballots, counters and statistics. Deleting again while the purge runs answers 204 and
//! announces it again (the same event id), so a failed announcement can be retried.

use ballot_core::{
    access::may_change,
    events::{Event, EventKind},
};
use shared::{ApiError, app::App, http, identity::caller_of, manage::change_poll};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = app.writer();
    http::serve_with(app.cors(), deps, |deps, req| async move {
        let poll = match change_poll(&deps.store, &req, true, |stored, _| Ok(Some(stored.poll.clone()))).await {
            Ok((poll, _)) => poll,
            Err(ApiError::NotFound) => {
                // Deleted already: the owner may announce it again; nobody else learns it existed.
                let caller = caller_of(&req)?;
                let tombstone = deps.store.tombstone(&http::path_id(&req, "id")?).await?;
                tombstone.filter(|poll| may_change(&caller, &poll.owner_id)).ok_or(ApiError::NotFound)?
            }
            Err(err) => return Err(err),
        };
        tracing::info!(poll = %poll.id, "poll deleted");
        deps.events.publish(&Event::of_poll(EventKind::PollDeleted, &poll, 0)).await?;
        Ok(http::no_content())
    })
    .await
}
