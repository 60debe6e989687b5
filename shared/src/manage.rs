//! The owner's routes over HTTP: the poll of the request's path as its caller may manage
//! it (`ballot_core::managing`), and the poll response with its `ETag`.

use ballot_core::{managing, polls::Poll};
use lambda_http::{Body, Request, Response, http::StatusCode};

use crate::{ApiError, http, identity::caller_of, store::Store};

/// The poll in the path, if the caller owns it or is an admin (403 otherwise, 404 when
/// there is no such poll): for routes that show or change what only the owner may.
pub async fn owned_poll(store: &Store, req: &Request) -> Result<Poll, ApiError> {
    let (caller, id) = (caller_of(req)?, http::path_id(req, "id")?);
    Ok(managing::owned_poll(store, &id, &caller).await?.poll)
}

/// A poll response: the poll as JSON with its version as `ETag`.
pub fn poll_response(status: StatusCode, poll: &Poll) -> Result<Response<Body>, ApiError> {
    http::with_header(http::json(status, poll)?, lambda_http::http::header::ETAG, &http::version_etag(poll.version))
}
