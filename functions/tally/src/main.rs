//! The table stream's consumer: each batch of one shard's ballot writes is folded into
//! the polls' count and hourly items, one conditional write per item, exactly once
//! (`ballot_core::tallying`; the invariant is `ballot_core::tally`'s). The stream edge
//! (reading records, the failed record, the window's state) is `shared::stream`.

// The future of one batch (use case → store → SDK) nests deeper than rustc's default
// layout query depth of 128.
#![recursion_limit = "256"]

use ballot_core::{clock::epoch_secs, tallying};
use shared::{app::App, store::Store, stream};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    stream::serve(app.store(), |store: std::sync::Arc<Store>, batch| async move {
        let tallied = tallying::tally(&*store, &*store, &batch, epoch_secs()).await?;
        tracing::info!(shard = %batch.shard, writes = batch.writes.len(), polls = ?tallied.changed_polls, "tallied");
        Ok(())
    })
    .await
}
