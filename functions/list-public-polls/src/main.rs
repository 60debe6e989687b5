//! `GET /v1/polls/public?limit&cursor` (any role): public polls, newest first.
//! `limit` is 1..=100 (default 20); `cursor` is the opaque `next_cursor` of the previous page.

use shared::{app::App, listing, store::polls::Listing};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    listing::serve_polls(&app, "public-polls", |_| Ok(Listing::Public)).await
}
