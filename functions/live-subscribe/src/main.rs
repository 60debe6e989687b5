//! `{"action": "subscribe", "poll_id": "…"}`: the poll's current results at once — a
//! `results` frame with the body of `GET …/results` and its ETag — if the connection's
//! watcher may see them, exactly as `GET …/results` decides (`ballot_core::live::subscribe`);
//! then the poll's pushes. A refusal is an `error` frame with the REST API's problem.

// The future of one subscribe (use case → store → SDK) nests deeper than rustc's default
// layout query depth of 128.
#![recursion_limit = "256"]

use ballot_core::{live::Frame, watching::subscribe};
use shared::{app::App, clock::System, live::RouteAnswer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    shared::live::serve(app.store(), |store, route| async move {
        let poll_id = match route.poll_of("subscribe") {
            Ok(poll_id) => poll_id,
            Err(refusal) => return RouteAnswer::frame(refusal),
        };
        let store = &*store;
        let frame = match subscribe(store, store, store, store, &System, &route.connection_id, &poll_id).await {
            Ok(results) => Frame::Results {
                poll_id: poll_id.clone(),
                etag: results.etag(),
                results: serde_json::to_value(&results).unwrap_or_default(),
            },
            Err(err) => route.error(Some(&poll_id), err),
        };
        RouteAnswer::frame(frame)
    })
    .await
}
