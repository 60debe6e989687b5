//! The table stream's consumer: each batch of one shard's records is first relayed as
//! events (`vote.cast`, `vote.changed`, `poll.closed` to polls with webhooks, every
//! `poll.deleted`) to the events queue (`ballot_core::relaying`), then its ballot writes
//! are folded into the polls' count and hourly items, one conditional write per item,
//! exactly once (`ballot_core::tallying`; the invariant is `ballot_core::tally`'s); last,
//! the live pushes of the polls it changed, closed or deleted start
//! (`ballot_core::pushing`). A record whose event the queue did not take is the batch's
//! failed record: nothing from it on is folded, and the stream retries from it. The stream
//! edge (reading records, the failed record, the window's state) is `shared::stream`.

// The future of one batch (use case → store → SDK) nests deeper than rustc's default
// layout query depth of 128.
#![recursion_limit = "256"]

use ballot_core::{
    clock::{epoch_ms, epoch_secs},
    events::EventKind,
    live::End,
    pushing, relaying, tallying,
};
use shared::{app::App, events::Publisher, pushes::LiveMessages, store::Store, stream};

struct Deps {
    store: Store,
    events: Publisher,
    live: LiveMessages,
    window_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let deps = Deps {
        store: app.store(),
        events: app.publisher(),
        live: app.live_messages(),
        window_ms: app.config.live.window_ms,
    };
    stream::serve(deps, |deps: std::sync::Arc<Deps>, mut batch| async move {
        if let Some(unrelayed) = relaying::relay(&deps.events, &deps.store, &batch).await? {
            tracing::warn!(shard = %batch.shard, seq = unrelayed.as_str(), "batch relayed in part: retried from there");
            if batch.failed_from.as_ref().is_none_or(|failed| unrelayed < *failed) {
                batch.failed_from = Some(unrelayed);
            }
        }
        let tallied = tallying::tally(&deps.store, &deps.store, &batch, epoch_secs()).await?;
        tracing::info!(shard = %batch.shard, writes = batch.writes.len(), polls = ?tallied.changed_polls, "tallied");
        let before_failed = |seq: &_| batch.failed_from.as_ref().is_none_or(|failed| seq < failed);
        let ends: Vec<(String, End)> = (batch.changes.iter().filter(|c| before_failed(&c.seq)))
            .filter_map(|change| match change.kind {
                EventKind::PollClosed => Some((change.poll.id.clone(), End::Closed)),
                EventKind::PollDeleted => Some((change.poll.id.clone(), End::Deleted)),
                _ => None,
            })
            .collect();
        let (changed, now_ms) = (&tallied.changed_polls, epoch_ms());
        pushing::start_pushes(&deps.store, &deps.live, changed, &ends, now_ms, deps.window_ms).await?;
        Ok(batch.failed_from)
    })
    .await
}
