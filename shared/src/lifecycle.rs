//! Closing and reopening a poll by hand (`POST /v1/polls/{id}/close`, `…/reopen`), by its
//! owner or an admin, with `Idempotency-Key`. A poll past `closes_at` is closed for good:
//! reopening it is 409. Moving a poll to the status it has changes nothing.
//!
//! Closing stores the closed status, even past `closes_at` when its schedule has not run
//! yet, with a record of the closing (`store::polls::Closing`), and publishes
//! `poll.closed` with an id derived from the version that closing produced. Every close
//! publishes the last closing's event, so a retry after a failed announcement, or a
//! close of a poll its schedule closed, repeats that event (the same id, whatever changed
//! since): receivers get it once.

use std::time::Duration;

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;

use crate::{
    ApiError,
    app::App,
    body,
    events::{Event, EventKind},
    http, idempotency,
    identity::Caller,
    manage::{change_poll, next_version, poll_response},
    polls::Status,
};

type Deps = crate::app::Writer;

/// These routes take no body; `{}` is accepted, anything else is refused.
#[derive(Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// Serves the route that moves a poll to `target`.
pub async fn serve(app: &App, scope: &'static str, target: Status) -> Result<(), lambda_http::Error> {
    let deps = app.writer();
    http::serve_with(app.cors(), deps, move |deps, req| async move {
        let caller = Caller::of(&req)?;
        body::empty_or_json::<NoFields>(&req)?;
        idempotency::once(&deps.store, scope, &caller.sub, Duration::from_secs(10), &req, || {
            transition(&deps, &req, target)
        })
        .await
    })
    .await
}

async fn transition(deps: &Deps, req: &Request, target: Status) -> Result<Response<Body>, ApiError> {
    let (poll, changed) = change_poll(&deps.store, req, false, |stored, now| {
        if target == Status::Open && stored.poll.expired(now) {
            return Err(ApiError::Conflict("The poll has reached its closing time; it cannot be reopened.".into()));
        }
        Ok((stored.poll.status != target).then(|| next_version(&stored.poll, target)))
    })
    .await?;
    if target == Status::Closed {
        // This call's closing, or the last one when the poll was closed already (a poll
        // closed before closings were recorded has none: its version stands in).
        let version = if changed {
            poll.version
        } else {
            deps.store.last_closing(&poll.id).await?.map_or(poll.version, |closing| closing.version)
        };
        tracing::info!(poll = %poll.id, version, "poll closed");
        deps.events.publish(&Event::of_poll(EventKind::PollClosed, &poll, version)).await?;
    }
    poll_response(StatusCode::OK, &poll)
}
