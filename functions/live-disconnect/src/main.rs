//! `$disconnect` of the WebSocket API: forgets the connection and every subscription it
//! had (`Watchers::disconnected`). API Gateway delivers it on a best-effort basis, so the
//! items also carry `expires_at`, which readers filter on.

use ballot_core::ports::Watchers;
use shared::{app::App, live::RouteAnswer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    shared::live::serve(app.store(), |store, route| async move {
        match store.disconnected(&route.connection_id).await {
            Ok(()) => RouteAnswer::ok(),
            Err(err) => {
                tracing::error!(error = %err, connection = %route.connection_id, "disconnect not recorded");
                RouteAnswer::status(500)
            }
        }
    })
    .await
}
