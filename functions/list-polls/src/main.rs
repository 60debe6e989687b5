//! `GET /v1/polls?limit&cursor` (editor, admin): the caller's own polls, newest first.
//! `limit` is 1..=100 (default 20); `cursor` is the opaque `next_cursor` of the previous page.

use shared::{app::App, identity::caller_of, listing, store::polls::Listing};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    listing::serve_polls(&app, "my-polls", |req| Ok(Listing::Owner(caller_of(req)?.sub))).await
}
