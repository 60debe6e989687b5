//! `POST /v1/polls/{id}/reopen` (owner or admin) → 200 the open poll; only before its
//! `closes_at` (409 after). Reopening an open poll changes nothing. Honours `Idempotency-Key`.

use ballot_core::polls::Status;
use shared::{app::App, lifecycle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    lifecycle::serve(&app, "reopen-poll", Status::Open).await
}
