//! The events queue's consumer for polls:
//! - queues each event for the poll's webhooks that subscribe to it (the deliveries
//!   consumer sends them), before anything else, so `poll.deleted` still finds them;
//! - closes a poll when its closing schedule fires (`ballot_core::managing::close_when_due`;
//!   the tally relays the `poll.closed` from the closing's stream record);
//! - purges a deleted poll's items and closing schedules on `poll.deleted`, which the
//!   tally relays from the tombstone's stream record (in pages; a crash half way is
//!   finished by the retry).
//!
//! Up to 10 messages of a batch are handled at once (their order carries no meaning: AWS
//! runs batches side by side anyway); failed records alone return to the queue
//! (`shared::queue`).

use ballot_core::{
    closing::ClosingTime,
    events::{Event, EventKind, Message},
    managing::close_when_due,
};
use shared::{
    app::App,
    clock::System,
    closing::Schedules,
    queue::{self, Received},
    store::Store,
    webhooks::delivery::Outbox,
};

/// Messages of a batch handled at once.
const AT_ONCE: usize = 10;

struct Deps {
    store: Store,
    outbox: Outbox,
    schedules: Schedules,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let deps = Deps {
        store: app.store(),
        outbox: Outbox::new(app.aws.sqs.clone(), app.config.webhooks.deliveries_queue_url.clone()),
        schedules: app.schedules(),
    };
    let retry = queue::Retry { sqs: app.aws.sqs.clone(), queue_url: app.config.events_queue_url.clone() };
    queue::serve(deps, AT_ONCE, Some(retry), |deps, message: Received<Message>| async move {
        match &message.body {
            Message::Event(event) => handle(&deps, event).await,
            Message::ClosingTime(due) => close(&deps, due).await,
        }
    })
    .await
}

async fn close(deps: &Deps, due: &ClosingTime) -> Result<(), shared::ApiError> {
    let closed = close_when_due(&deps.store, &System, due).await?;
    tracing::info!(poll = %due.closing_poll, closes_at = due.closes_at, closed, "closing time");
    Ok(())
}

async fn handle(deps: &Deps, event: &Event) -> Result<(), shared::ApiError> {
    let subscribers = deps.store.subscribers(&event.poll_id, event.kind).await?;
    if !subscribers.is_empty() {
        let queued = deps.outbox.fan_out(event, subscribers).await?;
        tracing::info!(event = %event.id, poll = %event.poll_id, queued, "deliveries queued");
    }
    match event.kind {
        // Counted, with the hourly statistics, by the stream tally.
        EventKind::VoteCast | EventKind::VoteChanged => {
            tracing::info!(event = %event.id, poll = %event.poll_id, "vote event")
        }
        EventKind::PollDeleted => {
            let removed = deps.store.purge_poll(&event.poll_id).await?;
            let schedules = deps.schedules.cancel_all(&event.poll_id).await?;
            tracing::info!(event = %event.id, poll = %event.poll_id, removed, schedules, "poll purged");
        }
        EventKind::PollClosed => tracing::info!(event = %event.id, poll = %event.poll_id, "poll closed"),
    }
    Ok(())
}
