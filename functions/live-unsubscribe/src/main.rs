//! `{"action": "unsubscribe", "poll_id": "…"}`: the connection gets no more pushes of the
//! poll. No frame answers it; a malformed message gets an `error` frame.

use ballot_core::ports::Watchers;
use shared::{app::App, live::RouteAnswer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    shared::live::serve(app.store(), |store, route| async move {
        let poll_id = match route.poll_of("unsubscribe") {
            Ok(poll_id) => poll_id,
            Err(refusal) => return RouteAnswer::frame(refusal),
        };
        match store.unwatch(&route.connection_id, &poll_id).await {
            Ok(()) => RouteAnswer::ok(),
            Err(err) => RouteAnswer::frame(route.error(Some(&poll_id), err)),
        }
    })
    .await
}
