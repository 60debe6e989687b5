//! The live queue's consumer (`ballot_core::pushing::push`): a push of a poll's results,
//! or its final frames, to its WebSocket watchers, one page of each watcher shard per
//! message (further pages are messages of their own, so pushers work in parallel and
//! no invocation's work grows with the audience); connections that are gone (`410`)
//! are forgotten; a connection whose token expired is closed. Frames go through the
//! WebSocket API's `@connections` management API. Failed messages alone return to the
//! queue (`shared::queue`).

// The future of one push (use case → store → SDK) nests deeper than rustc's default
// layout query depth of 128.
#![recursion_limit = "256"]

use ballot_core::{
    live::{Frame, LiveMessage},
    pushing::push,
};
use shared::{
    ApiError,
    app::App,
    clock::System,
    metrics::{self, Metric},
    pushes::{LiveMessages, ManagementApi},
    queue::{self, Received},
    store::Store,
};

struct Deps {
    store: Store,
    connections: ManagementApi,
    live: LiveMessages,
}

/// Messages of a batch handled at once (each posts a page of frames, a few at a time).
const CONCURRENCY: usize = 4;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), connections: app.management_api(), live: app.live_messages() };
    let retry = queue::Retry { sqs: app.aws.sqs.clone(), queue_url: app.config.live.queue_url.clone() };
    queue::serve(deps, CONCURRENCY, Some(retry), |deps, message: Received<LiveMessage>| async move {
        let hidden = hidden(message.body.poll_id());
        let pushed = push(&deps.store, &deps.connections, &deps.live, &System, &message.body, &hidden).await?;
        metrics::record(&[
            (Metric::LivePushesSent, pushed.sent as f64),
            (Metric::LiveConnectionsDropped, pushed.dropped as f64),
        ]);
        tracing::info!(
            kind = message.body.kind(),
            poll = message.body.poll_id().unwrap_or_default(),
            sent = pushed.sent,
            dropped = pushed.dropped,
            failed = pushed.failed,
            pages = pushed.pages,
            "pushed"
        );
        Ok(())
    })
    .await
}

/// The frame of a watcher whose results the owner hid after it subscribed.
fn hidden(poll_id: Option<&str>) -> String {
    let problem = ApiError::Domain(ballot_core::Error::ResultsHidden).to_problem(None);
    let problem = serde_json::to_value(problem).unwrap_or_default();
    Frame::Error { poll_id: poll_id.map(str::to_owned), problem }.to_text()
}
