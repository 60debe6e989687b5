//! `{"action": "unsubscribe", "poll_id": "…"}`: the connection gets no more pushes of the
//! poll. No frame answers it; a malformed message gets an `error` frame.

use ballot_core::{live::Request, ports::Watchers};
use shared::{app::App, live::RouteAnswer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    shared::live::serve(app.store(), |store, route| async move {
        let poll_id = match route.request() {
            Ok(Request::Unsubscribe { poll_id }) => poll_id,
            Ok(_) => {
                return RouteAnswer::frame(
                    route.error(None, shared::ApiError::BadRequest("Not an unsubscribe.".into())),
                );
            }
            Err(err) => return RouteAnswer::frame(route.error(None, err)),
        };
        match store.unwatch(&route.connection_id, &poll_id).await {
            Ok(()) => RouteAnswer::ok(),
            Err(err) => RouteAnswer::frame(route.error(Some(&poll_id), err)),
        }
    })
    .await
}
