//! `PATCH /v1/polls/{id}` (owner or admin) with `If-Match: "<version>"` and any settable
//! fields → 200 the poll. A stale version → 412, none → 428. Once voting started, the
//! question, options and choice rules are frozen, and neither guests nor results may be
//! opened up (409).

use lambda_http::http::StatusCode;
use shared::{
    ApiError,
    app::App,
    body, clock, http,
    manage::{change_poll, poll_response},
    polls::Change,
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.store(), |store, req| async move {
        let change: Change = body::json(&req)?;
        let version = http::if_match_version(&req)?;
        let now_text = clock::rfc3339_now();
        let poll = change_poll(&store, &req, false, |stored, now| {
            if stored.poll.version != version {
                return Err(ApiError::PreconditionFailed);
            }
            stored.poll.apply(&change, stored.voting_started, now, &now_text).map(Some)
        })
        .await?;
        tracing::info!(poll = %poll.id, version = poll.version, "poll changed");
        poll_response(StatusCode::OK, &poll)
    })
    .await
}
