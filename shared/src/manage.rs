//! Managing a poll as its owner over HTTP: the caller and the poll id of the request,
//! handed to `ballot_core::managing`.

use ballot_core::{managing, polls::Poll, polls::StoredPoll, ports::Result};
use lambda_http::{Body, Request, Response, http::StatusCode};

use crate::{ApiError, clock::System, http, identity::caller_of, store::Store};

/// Changes the poll in the path with `change` (`ballot_core::managing::change_poll`),
/// as the request's caller.
pub async fn change_poll(
    store: &Store,
    req: &Request,
    delete: bool,
    change: impl Fn(&StoredPoll, u64) -> Result<Option<Poll>>,
) -> std::result::Result<(Poll, bool), ApiError> {
    let (caller, id) = (caller_of(req)?, http::path_id(req, "id")?);
    Ok(managing::change_poll(store, &System, &id, &caller, delete, change).await?)
}

/// The poll in the path, if the caller owns it or is an admin (403 otherwise, 404 when
/// there is no such poll): for routes that show or change what only the owner may.
pub async fn owned_poll(store: &Store, req: &Request) -> std::result::Result<Poll, ApiError> {
    owned_stored_poll(store, req).await.map(|stored| stored.poll)
}

/// [`owned_poll`], as stored (with whether voting started).
pub async fn owned_stored_poll(store: &Store, req: &Request) -> std::result::Result<StoredPoll, ApiError> {
    let (caller, id) = (caller_of(req)?, http::path_id(req, "id")?);
    Ok(managing::owned_poll(store, &id, &caller).await?)
}

/// A poll response: the poll as JSON with its version as `ETag`.
pub fn poll_response(status: StatusCode, poll: &Poll) -> std::result::Result<Response<Body>, ApiError> {
    http::with_header(http::json(status, poll)?, lambda_http::http::header::ETAG, &http::version_etag(poll.version))
}
