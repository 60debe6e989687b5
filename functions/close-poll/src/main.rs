//! `POST /v1/polls/{id}/close` (owner or admin) → 200 the closed poll; the tally relays
//! `poll.closed` from its stream record. Closing a closed poll changes nothing. Honours `Idempotency-Key`.

use ballot_core::polls::Status;
use shared::{app::App, lifecycle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    lifecycle::serve(&app, "close-poll", Status::Closed).await
}
