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

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;

use ballot_core::{managing, polls::Status};

use crate::{ApiError, app::App, body, clock::System, http, idempotency, identity::caller_of, manage::poll_response};

type Deps = crate::app::Writer;

/// These routes take no body; `{}` is accepted, anything else is refused.
#[derive(Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// Serves the route that moves a poll to `target`.
pub async fn serve(app: &App, scope: &'static str, target: Status) -> Result<(), lambda_http::Error> {
    let deps = app.writer();
    http::serve_with(app.cors(), deps, move |deps, req| async move {
        let caller = caller_of(&req)?;
        body::empty_or_json::<NoFields>(&req)?;
        idempotency::once(&deps.store, scope, &caller.sub, &req, || transition(&deps, &req, target)).await
    })
    .await
}

async fn transition(deps: &Deps, req: &Request, target: Status) -> Result<Response<Body>, ApiError> {
    let (caller, id) = (caller_of(req)?, http::path_id(req, "id")?);
    let poll = managing::move_poll(&deps.store, &deps.events, &System, &id, &caller, target).await?;
    tracing::info!(poll = %poll.id, version = poll.version, status = ?poll.status, "poll moved");
    poll_response(StatusCode::OK, &poll)
}
