//! The events queue's consumer for polls: counts `vote.cast` / `vote.changed` in the
//! poll's hourly statistics (once per event id, however often it is delivered), and
//! purges a deleted poll's items on `poll.deleted` (in pages; a crash half way is
//! finished by the retry). `poll.closed` needs nothing here. Failed records alone return
//! to the queue (`shared::queue`).

use shared::{
    app::App,
    events::{Event, EventKind},
    queue,
    store::Store,
};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    queue::serve_events(app.store(), |store, event| async move { handle(&store, &event).await }).await
}

async fn handle(store: &Store, event: &Event) -> Result<(), shared::ApiError> {
    match event.kind {
        EventKind::VoteCast | EventKind::VoteChanged => {
            // A vote of a poll deleted since is not counted: its statistics are purged.
            if store.poll(&event.poll_id, false).await?.is_none() {
                return Ok(());
            }
            let counted = store.count_vote_event(event).await?;
            tracing::info!(event = %event.id, poll = %event.poll_id, counted, "vote event");
        }
        EventKind::PollDeleted => {
            let removed = store.purge_poll(&event.poll_id).await?;
            tracing::info!(event = %event.id, poll = %event.poll_id, removed, "poll purged");
        }
        EventKind::PollClosed => tracing::info!(event = %event.id, poll = %event.poll_id, "poll closed"),
    }
    Ok(())
}
