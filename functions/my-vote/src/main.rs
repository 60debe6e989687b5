//! `GET /v1/polls/{id}/votes/me` (any role) → the caller's ballot, or 404 when there is
//! none (or no such poll).

use ballot_core::ports::Ballots;
use lambda_http::http::StatusCode;
use shared::{app::App, http, identity::caller_of};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let caller = caller_of(&req)?;
        let poll_id = http::path_id(&req, "id")?;
        store.poll(&poll_id, false).await?.ok_or(ballot_core::Error::NotFound)?;
        let stored = store.ballot(&poll_id, &caller.sub).await?.ok_or(ballot_core::Error::NotFound)?;
        http::json(StatusCode::OK, &stored.ballot)
    })
    .await
}
