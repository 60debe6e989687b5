//! Managing a poll as its owner: the common path of `PATCH`, close, reopen and `DELETE`
//! on `/v1/polls/{id}`. Another user may read a poll (it is shared by id) but never
//! change it: 403. An unknown or deleted poll is 404.

use lambda_http::{Body, Request, Response, http::StatusCode};

use crate::{
    ApiError,
    auth::routes::may_change,
    clock::epoch_secs,
    http,
    identity::Caller,
    polls::Poll,
    store::{Store, polls::StoredPoll},
};

/// Changes the poll in the path with `change` (the stored poll and the time → the new
/// poll, `None` for no change), if the caller owns it or is an admin. `delete` leaves a
/// tombstone instead (see `store::polls`). The poll as readers see it now, and whether
/// this call changed it.
pub async fn change_poll(
    store: &Store,
    req: &Request,
    delete: bool,
    change: impl Fn(&StoredPoll, u64) -> Result<Option<Poll>, ApiError>,
) -> Result<(Poll, bool), ApiError> {
    let caller = Caller::of(req)?;
    let id = http::path_id(req, "id")?;
    let now = epoch_secs();
    let changed = store
        .update_poll(&id, delete, |stored| {
            if !may_change(&caller, &stored.poll.owner_id) {
                return Err(ApiError::Forbidden);
            }
            change(stored, now)
        })
        .await?;
    changed.map(|(poll, changed)| (poll.effective(now), changed)).ok_or(ApiError::NotFound)
}

/// The poll in the path, if the caller owns it or is an admin (403 otherwise, 404 when
/// there is no such poll): for routes that show or change what only the owner may.
pub async fn owned_poll(store: &Store, req: &Request) -> Result<Poll, ApiError> {
    owned_stored_poll(store, req).await.map(|stored| stored.poll)
}

/// [`owned_poll`], as stored (with whether voting started).
pub async fn owned_stored_poll(store: &Store, req: &Request) -> Result<StoredPoll, ApiError> {
    let caller = Caller::of(req)?;
    let id = http::path_id(req, "id")?;
    // Strongly consistent: an owner acts on a poll just created or changed.
    let stored = store.poll(&id, true).await?.ok_or(ApiError::NotFound)?;
    if !may_change(&caller, &stored.poll.owner_id) {
        return Err(ApiError::Forbidden);
    }
    Ok(stored)
}

/// The poll after a lifecycle change (version + 1, `updated_at` now).
pub fn next_version(poll: &Poll, status: crate::polls::Status) -> Poll {
    let mut next = poll.clone();
    next.status = status;
    next.version += 1;
    next.updated_at = crate::clock::rfc3339_now();
    next
}

/// A poll response: the poll as JSON with its version as `ETag`.
pub fn poll_response(status: StatusCode, poll: &Poll) -> Result<Response<Body>, ApiError> {
    http::with_header(http::json(status, poll)?, lambda_http::http::header::ETAG, &http::version_etag(poll.version))
}
