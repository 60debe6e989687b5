//! `GET /v1/polls/{id}/results` (any role) → `{"poll_id","status","total_ballots",
//! "options":[{"id","text","votes","percent"}],"as_of"}`, within the poll's
//! `results_visibility` (hidden → 403 `results-hidden`; the owner and admins always see
//! them). Counts are read strongly consistent, so a voter sees their own vote.
//!
//! Caching: a strong `ETag` over the status and counts, `If-None-Match` → 304; the
//! results are `private` (visibility depends on the caller), `max-age` 5 s while open,
//! an hour once closed by hand (it may reopen), a day once past `closes_at` (final).

use ballot_core::ports::Ballots;
use ballot_core::{
    clock,
    polls::{Results, ResultsVisibility, Status},
};
use lambda_http::http::{StatusCode, header};
use shared::{ApiError, app::App, http, identity::caller_of};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.store(), |store, req| async move {
        let caller = caller_of(&req)?;
        let now = clock::epoch_secs();
        let poll_id = http::path_id(&req, "id")?;
        let poll = store.poll(&poll_id, false).await?.ok_or(ApiError::NotFound)?.poll.effective(now);
        let needs_ballot = poll.results_visibility == ResultsVisibility::AfterVote && poll.status == Status::Open;
        let has_voted = needs_ballot && store.ballot(&poll_id, &caller.sub).await?.is_some();
        if !poll.results_visible_to(&caller, has_voted) {
            return Err(ApiError::ResultsHidden);
        }
        let (total, votes) = store.tally(&poll_id).await?;
        let results = Results::of(&poll, total, &votes, clock::rfc3339_now());
        let etag = results.etag();
        let cache = match poll.status {
            Status::Open => "private, max-age=5",
            Status::Closed if poll.expired(now) => "private, max-age=86400",
            Status::Closed => "private, max-age=3600",
        };
        let response = if http::none_match(&req, &etag) {
            let mut response = http::no_content();
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            http::json(StatusCode::OK, &results)?
        };
        http::with_header(http::with_header(response, header::ETAG, &etag)?, header::CACHE_CONTROL, cache)
    })
    .await
}
