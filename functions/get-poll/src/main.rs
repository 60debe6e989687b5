//! `GET /v1/polls/{id}` (any role): the poll, unlisted ones too (they are shared by id),
//! with its version as `ETag`, its `owner_id` for its owner and admins only. Unknown or
//! deleted → 404.

use ballot_core::clock;
use lambda_http::http::StatusCode;
use shared::{app::App, http, identity::caller_of, manage::poll_response};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let id = http::path_id(&req, "id")?;
        let caller = caller_of(&req)?;
        let stored = store.poll(&id, true).await?.ok_or(ballot_core::Error::NotFound)?;
        poll_response(StatusCode::OK, &stored.poll.effective(clock::epoch_secs()).seen_by(&caller))
    })
    .await
}
