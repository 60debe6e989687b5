//! `GET /v1/polls/{id}/results` (any role) → `{"poll_id","status","total_ballots",
//! "options":[{"id","text","votes","percent"}],"as_of"}`, within the poll's
//! `results_visibility` (hidden → 403 `results-hidden`; `ballot_core::results`). Counts
//! are what the stream tally has folded (one `Query`): they trail votes by the stream's
//! delay, about a second (`make bench`'s tally-freshness); a voter sees their own ballot
//! at once in `GET …/votes/me`.
//!
//! Caching: a strong `ETag` over the status and counts, `If-None-Match` → 304; the
//! results are `private` (visibility depends on the caller), `max-age` 5 s while open and
//! for a minute after a closing takes effect (the last ballots may still be counting), then
//! an hour once closed by hand (it may reopen), a day once past `closes_at` (final).

use ballot_core::results::read_results;
use lambda_http::http::StatusCode;
use shared::{app::App, clock::System, http, identity::caller_of};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let (caller, poll_id) = (caller_of(&req)?, http::path_id(&req, "id")?);
        let store = &*store;
        let (results, finality) = read_results(store, store, store, &System, &poll_id, Some(&caller)).await?;
        let cache = format!("private, max-age={}", finality.max_age_secs());
        http::conditional(&req, &results.etag(), &cache, || http::json(StatusCode::OK, &results))
    })
    .await
}
