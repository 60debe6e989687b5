//! Poll listings (`GET /v1/polls`, `GET /v1/polls/public`): newest first, `limit`
//! 1..=100 (default 20), and an opaque, tamper-evident `next_cursor` (`crate::cursor`)
//! bound to its listing.

use lambda_http::{Request, http::StatusCode};

use crate::{
    ApiError,
    app::App,
    aws::secretsmanager,
    cursor::CursorKeys,
    http,
    store::{Store, polls::Listing},
};
use ballot_core::clock::epoch_secs;

struct Deps {
    store: Store,
    cursors: CursorKeys<secretsmanager::Client>,
}

/// Serves the listing `listing` picks for a request; `purpose` binds its cursors to it.
pub async fn serve_polls(
    app: &App,
    purpose: &'static str,
    listing: impl Fn(&Request) -> Result<Listing, ApiError> + Send + Sync + 'static,
) -> Result<(), lambda_http::Error> {
    let deps = Deps { store: app.store(), cursors: app.cursor_keys() };
    http::serve_with(app.edge(), deps, move |deps, req| {
        let listing = listing(&req);
        async move {
            let listing = listing?;
            let caller = crate::identity::caller_of(&req)?;
            let limit = http::page_limit(&req)?;
            let cursors = deps.cursors.get().await?;
            let page =
                deps.store.list_polls(&listing, limit, cursors.start(purpose, http::query(&req, "cursor"))?).await?;
            let now = epoch_secs();
            let polls: Vec<_> = page.polls.into_iter().map(|poll| poll.effective(now).seen_by(&caller)).collect();
            let next_cursor = cursors.next(purpose, page.next)?;
            http::json(StatusCode::OK, &serde_json::json!({"polls": polls, "next_cursor": next_cursor}))
        }
    })
    .await
}
