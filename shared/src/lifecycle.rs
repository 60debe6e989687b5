//! Closing and reopening a poll by hand (`POST /v1/polls/{id}/close`, `…/reopen`), by its
//! owner or an admin, with `Idempotency-Key`. A poll past `closes_at` is closed for good:
//! reopening it is 409. Moving a poll to the status it has changes nothing.
//!
//! Closing stores the closed status and a closed interval from 2 s ahead
//! (`ballot_core::counting`), even past `closes_at` when its schedule has not run yet;
//! the tally relays `poll.closed` from its stream record, with an id derived from the
//! version that closing produced.

use lambda_http::{Body, Request, Response, http::StatusCode};

use ballot_core::{managing, polls::Status};

use crate::{ApiError, app::App, body, clock::System, http, idempotency, identity::caller_of, manage::poll_response};

type Deps = crate::store::Store;

/// Serves the route that moves a poll to `target`.
pub async fn serve(app: &App, scope: &'static str, target: Status) -> Result<(), lambda_http::Error> {
    let deps = app.store();
    http::serve_with(app.edge(), deps, move |deps, req| async move {
        let caller = caller_of(&req)?;
        body::no_fields(&req)?;
        idempotency::once(&deps, scope, &caller.sub, &req, || transition(&deps, &req, target)).await
    })
    .await
}

async fn transition(deps: &Deps, req: &Request, target: Status) -> Result<Response<Body>, ApiError> {
    let (caller, id) = (caller_of(req)?, http::path_id(req, "id")?);
    let poll = managing::move_poll(deps, &System, &id, &caller, target).await?;
    tracing::info!(poll = %poll.id, version = poll.version, status = ?poll.status, "poll moved");
    poll_response(StatusCode::OK, &poll)
}
