//! `PATCH /v1/polls/{id}` (owner or admin) with `If-Match: "<version>"` and any settable
//! fields → 200 the poll. A stale version → 412, none → 428. Once voting started, the
//! question, options and choice rules are frozen, and neither guests nor results may be
//! opened up (409). A new `closes_at` is scheduled before it is written and the old one's
//! schedule removed after (`shared::closing`); a schedule left behind changes nothing.

use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    body, clock,
    closing::Schedules,
    http,
    manage::{change_poll, owned_poll, poll_response},
    polls::{Change, Poll},
    store::Store,
};

struct Deps {
    store: Store,
    schedules: Schedules,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), schedules: app.schedules() };
    http::serve_with(app.cors(), deps, |deps, req| async move {
        let change: Change = body::json(&req)?;
        let version = http::if_match_version(&req)?;
        let before = match change.closes_at {
            Some(_) => Some(schedule_closing(&deps, &req, &change, version).await?),
            None => None,
        };
        let now_text = clock::rfc3339_now();
        let poll = change_poll(&deps.store, &req, false, |stored, now| {
            if stored.poll.version != version {
                return Err(ApiError::PreconditionFailed);
            }
            stored.poll.apply(&change, stored.voting_started, now, &now_text).map(Some)
        })
        .await?;
        tracing::info!(poll = %poll.id, version = poll.version, "poll changed");
        let old = before.and_then(|before| before.closes_at_epoch());
        if let Some(old) = old.filter(|old| poll.closes_at_epoch() != Some(*old))
            && let Err(err) = deps.schedules.cancel(&poll.id, old).await
        {
            // Committed already; the stale schedule will find another closing time.
            tracing::warn!(poll = %poll.id, error = %err, "old closing schedule not removed");
        }
        poll_response(StatusCode::OK, &poll)
    })
    .await
}

/// Schedules the closing time `change` sets, if valid, once the caller may change this
/// version of the poll (so nobody else can put schedules). Returns the poll as it was.
async fn schedule_closing(deps: &Deps, req: &Request, change: &Change, version: u64) -> Result<Poll, ApiError> {
    let before = owned_poll(&deps.store, req).await?;
    if before.version != version {
        return Err(ApiError::PreconditionFailed);
    }
    if let Some(at) = change.closing_time(clock::epoch_secs()).filter(|at| before.closes_at_epoch() != Some(*at)) {
        deps.schedules.schedule(&before.id, at).await?;
    }
    Ok(before)
}
