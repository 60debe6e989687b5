//! The events queue's consumer for polls:
//! - queues each event for the poll's webhooks that subscribe to it (the deliveries
//!   consumer sends them), before anything else, so `poll.deleted` still finds them;
//! - counts `vote.cast` / `vote.changed` in the poll's hourly statistics (once per event
//!   id, however often it is delivered);
//! - purges a deleted poll's items on `poll.deleted` (in pages; a crash half way is
//!   finished by the retry).
//!
//! Failed records alone return to the queue (`shared::queue`).

use shared::{
    app::App,
    events::{Event, EventKind},
    queue::{self, Received},
    store::Store,
    webhooks::delivery::Outbox,
};

struct Deps {
    store: Store,
    outbox: Outbox,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let deps = Deps {
        store: app.store(),
        outbox: Outbox::new(app.aws.sqs.clone(), app.config.webhooks.deliveries_queue_url.clone()),
    };
    queue::serve(deps, 1, |deps, message: Received<Event>| async move { handle(&deps, &message.body).await }).await
}

async fn handle(deps: &Deps, event: &Event) -> Result<(), shared::ApiError> {
    let subscribers = deps.store.subscribers(&event.poll_id, event.kind).await?;
    if !subscribers.is_empty() {
        let queued = deps.outbox.fan_out(event, subscribers).await?;
        tracing::info!(event = %event.id, poll = %event.poll_id, queued, "deliveries queued");
    }
    match event.kind {
        EventKind::VoteCast | EventKind::VoteChanged => {
            // A vote of a poll deleted since is not counted: its statistics are purged.
            if deps.store.poll(&event.poll_id, false).await?.is_none() {
                return Ok(());
            }
            let counted = deps.store.count_vote_event(event).await?;
            tracing::info!(event = %event.id, poll = %event.poll_id, counted, "vote event");
        }
        EventKind::PollDeleted => {
            let removed = deps.store.purge_poll(&event.poll_id).await?;
            tracing::info!(event = %event.id, poll = %event.poll_id, removed, "poll purged");
        }
        EventKind::PollClosed => tracing::info!(event = %event.id, poll = %event.poll_id, "poll closed"),
    }
    Ok(())
}
