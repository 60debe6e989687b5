//! `PATCH /v1/polls/{id}` (owner or admin) with `If-Match: "<version>"` and any settable
//! fields → 200 the poll. A stale version → 412, none → 428. Once voting started, the
//! question, options and choice rules are frozen, and neither guests nor results may be
//! opened up (409). A new `closes_at` is checked with the whole change, then scheduled
//! before it is written; the older versions' schedules are removed after
//! (`shared::closing`). A schedule left behind changes nothing.

use ballot_core::{
    Error, clock,
    polls::{Change, Poll, StoredPoll},
};
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    body,
    closing::Schedules,
    http,
    manage::{change_poll, owned_stored_poll, poll_response},
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
        // One clock for the check before scheduling and the check of the write.
        let (now, now_text) = (clock::epoch_secs(), clock::rfc3339_now());
        let apply = |stored: &StoredPoll| {
            if stored.poll.version != version {
                return Err(Error::PreconditionFailed);
            }
            stored.poll.apply(&change, stored.voting_started, now, &now_text)
        };
        let rescheduled = change.closes_at.is_some() && schedule_closing(&deps, &req, &apply).await?;
        let (poll, _) = change_poll(&deps.store, &req, false, |stored, _| apply(stored).map(Some)).await?;
        tracing::info!(poll = %poll.id, version = poll.version, "poll changed");
        if rescheduled && let Err(err) = deps.schedules.cancel_older(&poll.id, poll.version).await {
            // Committed already; a stale schedule will find another closing time.
            tracing::warn!(poll = %poll.id, error = %err, "old closing schedules not removed");
        }
        poll_response(StatusCode::OK, &poll)
    })
    .await
}

/// Checks the change against the poll as it is (owner, version, every field) and
/// schedules the closing time it sets, so nobody else and no refused change can put
/// schedules. Whether the closing time changes.
async fn schedule_closing(
    deps: &Deps,
    req: &Request,
    apply: &impl Fn(&StoredPoll) -> Result<Poll, Error>,
) -> Result<bool, ApiError> {
    let before = owned_stored_poll(&deps.store, req).await?;
    let next = apply(&before)?;
    let closes_at = next.closes_at_epoch();
    if closes_at == before.poll.closes_at_epoch() {
        return Ok(false);
    }
    if let Some(at) = closes_at {
        deps.schedules.schedule(&next.id, at, next.version).await?;
    }
    Ok(true)
}
