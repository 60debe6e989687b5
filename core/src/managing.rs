//! Managing a poll as its owner: the use cases behind `PATCH`, close, reopen and
//! `DELETE` on `/v1/polls/{id}`, and the closing a schedule asks for. Another user may
//! read a poll (it is shared by id) but never change it: 403. An unknown or deleted poll
//! is 404.
//!
//! Invariant: every change is written conditionally on the poll it was computed from
//! ([`Polls::replace_poll`]); a concurrent change makes it read and compute again, so no
//! change is lost and none is applied to a poll it was not checked against.

use crate::{
    Error,
    access::{Principal, may_change},
    clock::Clock,
    closing::{ClosingTime, EARLY_GRACE_SECS},
    events::{Event, EventKind},
    polls::{Poll, Status, StoredPoll},
    ports::{Announce, Polls, Result},
};

/// Attempts before a change gives up on a poll that keeps changing under it.
const ATTEMPTS: usize = 5;

/// Changes poll `id` with `change` (given the stored poll and the time, the new poll, or
/// `None` for no change, or why not), if `caller` owns it or is an admin; `delete` leaves
/// a tombstone instead. The poll as readers see it now, and whether this call changed it.
pub async fn change_poll(
    polls: &impl Polls,
    clock: &impl Clock,
    id: &str,
    caller: &Principal,
    delete: bool,
    change: impl Fn(&StoredPoll, u64) -> Result<Option<Poll>>,
) -> Result<(Poll, bool)> {
    let now = clock.epoch_secs();
    let owned = |stored: &StoredPoll| {
        if !may_change(caller, &stored.poll.owner_id) {
            return Err(Error::Forbidden);
        }
        change(stored, now)
    };
    let (poll, changed) = replace(polls, id, delete, owned).await?.ok_or(Error::NotFound)?;
    Ok((poll.effective(now), changed))
}

/// Poll `id`, if `caller` owns it or is an admin (403 otherwise, 404 when there is no
/// such poll), read strongly consistent: an owner acts on a poll just created or changed.
pub async fn owned_poll(polls: &impl Polls, id: &str, caller: &Principal) -> Result<StoredPoll> {
    let stored = polls.poll(id, true).await?.ok_or(Error::NotFound)?;
    if !may_change(caller, &stored.poll.owner_id) {
        return Err(Error::Forbidden);
    }
    Ok(stored)
}

/// Moves poll `id` to `target` by hand (close or reopen), as its owner or an admin. A
/// poll past `closes_at` cannot be reopened (409); moving a poll to the status it has
/// changes nothing. Closing announces `poll.closed` with the id of the closing in force:
/// this call's when it closed the poll, the last recorded one otherwise, so a retry, or a
/// close of a poll its schedule closed, repeats the same event.
pub async fn move_poll(
    polls: &impl Polls,
    announce: &impl Announce,
    clock: &impl Clock,
    id: &str,
    caller: &Principal,
    target: Status,
) -> Result<Poll> {
    let now_text = clock.rfc3339_now();
    let (poll, changed) = change_poll(polls, clock, id, caller, false, |stored, now| {
        if target == Status::Open && stored.poll.expired(now) {
            return Err(Error::Conflict("The poll has reached its closing time; it cannot be reopened.".into()));
        }
        Ok((stored.poll.status != target).then(|| stored.poll.next_version(target, &now_text)))
    })
    .await?;
    if target == Status::Closed {
        // A poll closed before closings were recorded has none: its version stands in.
        let version = if changed {
            poll.version
        } else {
            polls.last_closing(&poll.id).await?.map_or(poll.version, |closing| closing.version)
        };
        announce.publish(&Event::of_poll(EventKind::PollClosed, &poll, version)).await?;
    }
    Ok(poll)
}

/// Closes the poll of `due` if it is still open with that closing time and that time has
/// come (give or take [`EARLY_GRACE_SECS`]), and gives the `poll.closed` to announce:
/// when the poll is closed already at this closing time (an earlier try, or by hand), the
/// last closing's event again, with the same id. `None` when the closing time is stale or
/// far early: such a message changes nothing.
pub async fn close_when_due(polls: &impl Polls, clock: &impl Clock, due: &ClosingTime) -> Result<Option<Event>> {
    let id = &due.closing_poll;
    if due.closes_at > clock.epoch_secs() + EARLY_GRACE_SECS {
        tracing::warn!(poll = %id, closes_at = due.closes_at, "closing time far ahead ignored");
        return Ok(None);
    }
    let now_text = clock.rfc3339_now();
    let close = |stored: &StoredPoll| {
        let poll = &stored.poll;
        let open_then = poll.status == Status::Open && poll.closes_at_epoch() == Some(due.closes_at);
        Ok(open_then.then(|| poll.next_version(Status::Closed, &now_text)))
    };
    let Some((poll, closed)) = replace(polls, id, false, close).await? else { return Ok(None) };
    if closed {
        return Ok(Some(Event::of_poll(EventKind::PollClosed, &poll, poll.version)));
    }
    if poll.status != Status::Closed {
        return Ok(None);
    }
    let Some(closing) = polls.last_closing(id).await?.filter(|c| c.closes_at == Some(due.closes_at)) else {
        return Ok(None);
    };
    Ok(Some(Event::of_poll(EventKind::PollClosed, &poll, closing.version)))
}

/// Reads poll `id` (consistently), computes `next` from it, writes it conditionally on
/// what was read, and tries again when it changed meanwhile. The poll as written (or as
/// read, when there was nothing to change) and whether this call changed it; `None` when
/// there is no such poll.
async fn replace(
    polls: &impl Polls,
    id: &str,
    delete: bool,
    next: impl Fn(&StoredPoll) -> Result<Option<Poll>>,
) -> Result<Option<(Poll, bool)>> {
    for _ in 0..ATTEMPTS {
        let Some(stored) = polls.poll(id, true).await? else { return Ok(None) };
        let Some(poll) = next(&stored)? else { return Ok(Some((stored.poll, false))) };
        if polls.replace_poll(&stored, &poll, delete).await? {
            return Ok(Some((poll, true)));
        }
    }
    Err(Error::Conflict("The poll is changing concurrently; retry.".into()))
}
