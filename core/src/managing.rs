//! Managing a poll as its owner: the use cases behind `PATCH`, close, reopen and
//! `DELETE` on `/v1/polls/{id}`, registering its webhooks, and the closing a schedule
//! asks for. Another user may
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
    ids,
    polls::{Change, Poll, Settings, Status, StoredPoll},
    ports::{Polls, Result, Schedules, Webhooks},
    webhooks::{self, NewWebhook, Webhook},
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
    let (poll, changed) = replace(polls, clock, id, delete, owned).await?.ok_or(Error::NotFound)?;
    Ok((poll.effective(now), changed))
}

/// Creates a poll of `owner` from `settings` (every rule checked at once). A `closes_at`
/// is scheduled before the poll is written, so no committed poll lacks its schedule; a
/// schedule whose poll never got written changes nothing when it runs.
pub async fn create_poll(
    polls: &impl Polls,
    schedules: &impl Schedules,
    clock: &impl Clock,
    owner: &Principal,
    settings: &Settings,
) -> Result<Poll> {
    let checked = settings.check(clock.epoch_secs())?;
    let closes_at = checked.closes_at.as_ref().map(|(_, epoch)| *epoch);
    let poll = Poll::new(ids::random_id(), owner.sub.clone(), settings, checked, &clock.rfc3339_now());
    if let Some(at) = closes_at {
        schedules.schedule(&poll.id, at, poll.version).await?;
    }
    polls.create_poll(&poll).await?;
    Ok(poll)
}

/// Applies `change` to poll `id` as `caller`, if `version` is still its version (else
/// 412). Once voting started, the question, options and choice rules are frozen, and
/// neither guests nor results may be opened up (409). A new `closes_at` is checked with
/// the whole change (owner, version, every field, one clock), then scheduled before the
/// write, so no refused change and nobody else puts a schedule; the older versions'
/// schedules are removed after the write. A schedule left behind changes nothing.
pub async fn update_poll(
    polls: &impl Polls,
    schedules: &impl Schedules,
    clock: &impl Clock,
    id: &str,
    caller: &Principal,
    version: u64,
    change: &Change,
) -> Result<Poll> {
    let (now, now_text) = (clock.epoch_secs(), clock.rfc3339_now());
    let apply = |stored: &StoredPoll| {
        if stored.poll.version != version {
            return Err(Error::PreconditionFailed);
        }
        stored.poll.apply(change, stored.voting_started, now, &now_text)
    };
    let rescheduled = change.closes_at.is_some() && {
        let before = owned_poll(polls, id, caller).await?;
        let next = apply(&before)?;
        let closes_at = next.closes_at_epoch();
        if let Some(at) = closes_at.filter(|at| Some(*at) != before.poll.closes_at_epoch()) {
            schedules.schedule(&next.id, at, next.version).await?;
        }
        closes_at != before.poll.closes_at_epoch()
    };
    let (poll, _) = change_poll(polls, clock, id, caller, false, |stored, _| apply(stored).map(Some)).await?;
    if rescheduled && let Err(err) = schedules.cancel_older(&poll.id, poll.version).await {
        // Committed already; a stale schedule will find another closing time.
        tracing::warn!(poll = %poll.id, error = %err, "old closing schedules not removed");
    }
    Ok(poll)
}

/// Deletes poll `id` as its owner or an admin: a tombstone, so it is gone for every
/// reader at once. The tally relays `poll.deleted` from the tombstone's stream record,
/// which starts the purge ([`crate::relaying`]). Deleting again while the purge runs
/// changes nothing; to anyone else a deleted poll is 404, so nobody learns it existed.
pub async fn delete_poll(polls: &impl Polls, clock: &impl Clock, id: &str, caller: &Principal) -> Result<Poll> {
    match change_poll(polls, clock, id, caller, true, |stored, _| Ok(Some(stored.poll.clone()))).await {
        Ok((poll, _)) => Ok(poll),
        Err(Error::NotFound) => {
            let tombstone = polls.tombstone(id).await?;
            tombstone.filter(|poll| may_change(caller, &poll.owner_id)).ok_or(Error::NotFound)
        }
        Err(err) => Err(err),
    }
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
/// changes nothing. The tally relays `poll.closed` from the closing's stream record.
pub async fn move_poll(
    polls: &impl Polls,
    clock: &impl Clock,
    id: &str,
    caller: &Principal,
    target: Status,
) -> Result<Poll> {
    let now_text = clock.rfc3339_now();
    let (poll, _) = change_poll(polls, clock, id, caller, false, |stored, now| {
        if target == Status::Open && stored.poll.expired(now) {
            return Err(Error::Conflict("The poll has reached its closing time; it cannot be reopened.".into()));
        }
        Ok((stored.poll.status != target).then(|| stored.poll.next_version(target, &now_text)))
    })
    .await?;
    Ok(poll)
}

/// What a stack restored from a copy of the table must do about a poll's closing (the copy
/// holds no schedules): nothing for a closed poll or one without `closes_at`; schedule a
/// closing time still ahead; close at once one whose time passed while it had none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingClosing {
    /// Schedule `due` for the poll's `version`.
    Schedule { due: ClosingTime, version: u64 },
    /// Its time has passed: send the [`ClosingTime`] now.
    Due(ClosingTime),
}

/// See [`PendingClosing`]; `None` when the poll needs nothing.
pub fn pending_closing(poll: &Poll, now_secs: u64) -> Option<PendingClosing> {
    if poll.status != Status::Open {
        return None;
    }
    let at = poll.closes_at_epoch()?;
    let due = ClosingTime { closing_poll: poll.id.clone(), closes_at: at };
    Some(if at > now_secs { PendingClosing::Schedule { due, version: poll.version } } else { PendingClosing::Due(due) })
}

/// Closes the poll of `due` if it is still open with that closing time and that time has
/// come (give or take [`EARLY_GRACE_SECS`]); whether this call closed it. A closing time
/// that is stale (another one since, or closed already) or far early changes nothing.
/// The tally relays `poll.closed` from the closing's stream record.
pub async fn close_when_due(polls: &impl Polls, clock: &impl Clock, due: &ClosingTime) -> Result<bool> {
    let id = &due.closing_poll;
    if due.closes_at > clock.epoch_secs() + EARLY_GRACE_SECS {
        tracing::warn!(poll = %id, closes_at = due.closes_at, "closing time far ahead ignored");
        return Ok(false);
    }
    let now_text = clock.rfc3339_now();
    let close = |stored: &StoredPoll| {
        let poll = &stored.poll;
        let open_then = poll.status == Status::Open && poll.closes_at_epoch() == Some(due.closes_at);
        Ok(open_then.then(|| poll.next_version(Status::Closed, &now_text)))
    };
    Ok(replace(polls, clock, id, false, close).await?.is_some_and(|(_, closed)| closed))
}

/// Reads poll `id` (consistently), computes `next` from it, writes it conditionally on
/// what was read (with its closed intervals, [`StoredPoll::succeeded_by`]), and tries
/// again when it changed meanwhile. The poll as written (or as read, when there was
/// nothing to change) and whether this call changed it; `None` when there is no such poll.
async fn replace(
    polls: &impl Polls,
    clock: &impl Clock,
    id: &str,
    delete: bool,
    next: impl Fn(&StoredPoll) -> Result<Option<Poll>>,
) -> Result<Option<(Poll, bool)>> {
    for _ in 0..ATTEMPTS {
        let Some(stored) = polls.poll(id, true).await? else { return Ok(None) };
        let Some(poll) = next(&stored)? else { return Ok(Some((stored.poll, false))) };
        if polls.replace_poll(&stored, &stored.succeeded_by(poll.clone(), clock.epoch_ms()), delete).await? {
            return Ok(Some((poll, true)));
        }
    }
    Err(Error::Conflict("The poll is changing concurrently; retry.".into()))
}

/// `POST /v1/polls/{id}/webhooks`: registers `new` on poll `poll_id` as its owner or an admin: the registration's rules
/// first (every mistake named), then ownership, then a fresh secret (`whsec_…`), which is
/// returned with the webhook: it is shown only at creation. The store keeps at most its
/// per-poll number of webhooks (409 beyond).
pub async fn register_webhook(
    polls: &impl Polls,
    store: &impl Webhooks,
    clock: &impl Clock,
    caller: &Principal,
    poll_id: &str,
    new: NewWebhook,
    allow_http: bool,
) -> Result<(Webhook, String)> {
    let url = webhooks::check_registration(&new.url, &new.events, allow_http)?;
    let poll = owned_poll(polls, poll_id, caller).await?.poll;
    let webhook = Webhook {
        id: ids::random_id(),
        url: url.to_string(),
        events: new.events,
        created_at: clock.rfc3339_now(),
        disabled_at: None,
        last_error: None,
    };
    let secret = webhooks::signature::new_secret();
    store.create_webhook(&poll.id, &webhook, &secret).await?;
    tracing::info!(poll = %poll.id, webhook = %webhook.id, "webhook created");
    Ok((webhook, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        access::{Role, TokenKind},
        clock::Fixed,
        memory::{Memory, NOW, open_poll},
        polls::parse_instant,
    };

    fn principal(sub: &str, role: Role) -> Principal {
        Principal { sub: sub.into(), roles: vec![role], token_kind: TokenKind::Access, email_verified: false }
    }

    fn owner() -> Principal {
        principal("owner", Role::Editor)
    }

    fn closing_in(secs: u64) -> Change {
        let at = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW + secs));
        Change { closes_at: Some(Some(at.to_string())), ..Change::default() }
    }

    #[test]
    fn given_restored_polls_then_future_closings_are_scheduled_passed_ones_due_and_the_rest_left() {
        let mut poll = open_poll(&["a", "b"]);
        assert_eq!(pending_closing(&poll, NOW), None, "no closes_at");
        poll.closes_at = closing_in(60).closes_at.unwrap();
        let due = ClosingTime { closing_poll: "p1".into(), closes_at: NOW + 60 };
        assert_eq!(pending_closing(&poll, NOW), Some(PendingClosing::Schedule { due: due.clone(), version: 1 }));
        assert_eq!(pending_closing(&poll, NOW + 60), Some(PendingClosing::Due(due)));
        poll.status = Status::Closed;
        assert_eq!(pending_closing(&poll, NOW), None, "closed");
    }

    #[tokio::test]
    async fn given_a_new_closing_time_when_patched_then_it_is_scheduled_for_the_new_version_and_older_ones_go() {
        let memory = Memory::with_poll(open_poll(&["a", "b"]));
        let clock = Fixed::at(NOW);
        update_poll(&memory, &memory, &clock, "p1", &owner(), 1, &closing_in(3600)).await.unwrap();
        let poll = update_poll(&memory, &memory, &clock, "p1", &owner(), 2, &closing_in(7200)).await.unwrap();
        assert_eq!(poll.version, 3);
        assert_eq!(memory.state().schedules, [("p1".to_owned(), NOW + 7200, 3)]);
        assert_eq!(poll.closes_at.as_deref().and_then(parse_instant).map(|(_, at)| at), Some(NOW + 7200));
    }

    #[tokio::test]
    async fn given_a_refused_change_when_patched_then_nothing_is_scheduled_or_written() {
        let memory = Memory::with_poll(open_poll(&["a", "b"]));
        let clock = Fixed::at(NOW);
        let mut bad = closing_in(3600);
        bad.question = Some(String::new());
        let err = update_poll(&memory, &memory, &clock, "p1", &owner(), 1, &bad).await.unwrap_err();
        assert!(matches!(err, Error::Validation(_)), "{err:?}");
        let stale = update_poll(&memory, &memory, &clock, "p1", &owner(), 7, &closing_in(3600)).await.unwrap_err();
        assert!(matches!(stale, Error::PreconditionFailed), "{stale:?}");
        let stranger = principal("mallory", Role::Editor);
        let err = update_poll(&memory, &memory, &clock, "p1", &stranger, 1, &closing_in(3600)).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden), "{err:?}");
        assert!(memory.state().schedules.is_empty());
        assert_eq!(memory.state().polls["p1"].poll.version, 1);
    }

    #[tokio::test]
    async fn given_a_poll_when_closed_twice_by_hand_then_it_closes_once_with_a_closed_interval_ahead() {
        let memory = Memory::with_poll(open_poll(&["a", "b"]));
        let clock = Fixed::at(NOW);
        let closed = move_poll(&memory, &clock, "p1", &owner(), Status::Closed).await.unwrap();
        assert_eq!((closed.status, closed.version), (Status::Closed, 2));
        let admin = principal("root", Role::Admin);
        assert_eq!(move_poll(&memory, &clock, "p1", &admin, Status::Closed).await.unwrap().version, 2);
        let closed_from = NOW * 1000 + crate::counting::CLOSING_DELAY_MS;
        assert_eq!(memory.state().polls["p1"].closed, [(closed_from, None)]);
    }

    #[tokio::test]
    async fn given_a_poll_past_closes_at_when_reopened_then_409() {
        let mut poll = open_poll(&["a", "b"]);
        poll.closes_at = Some("2026-01-01T00:00:00Z".into());
        let memory = Memory::with_poll(poll);
        let err = move_poll(&memory, &Fixed::at(NOW), "p1", &owner(), Status::Open).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    }

    #[tokio::test]
    async fn given_a_closing_time_when_due_then_it_closes_once_and_a_stale_one_changes_nothing() {
        let memory = Memory::with_poll(open_poll(&["a", "b"]));
        update_poll(&memory, &memory, &Fixed::at(NOW), "p1", &owner(), 1, &closing_in(60)).await.unwrap();
        let due = ClosingTime { closing_poll: "p1".into(), closes_at: NOW + 60 };
        let early = Fixed::at(NOW + 60 - EARLY_GRACE_SECS - 1);
        assert!(!close_when_due(&memory, &early, &due).await.unwrap());
        let stale = ClosingTime { closing_poll: "p1".into(), closes_at: NOW + 30 };
        assert!(!close_when_due(&memory, &Fixed::at(NOW + 60), &stale).await.unwrap());
        assert!(close_when_due(&memory, &Fixed::at(NOW + 60), &due).await.unwrap());
        assert!(!close_when_due(&memory, &Fixed::at(NOW + 61), &due).await.unwrap(), "closed already");
        assert_eq!(memory.state().polls["p1"].poll.version, 3, "closed once");
    }

    #[tokio::test]
    async fn given_a_deleted_poll_when_its_owner_deletes_again_then_nothing_changes_and_strangers_get_404() {
        let memory = Memory::with_poll(open_poll(&["a", "b"]));
        let clock = Fixed::at(NOW);
        delete_poll(&memory, &clock, "p1", &owner()).await.unwrap();
        assert!(memory.state().polls.is_empty(), "gone for readers");
        assert_eq!(delete_poll(&memory, &clock, "p1", &owner()).await.unwrap().id, "p1");
        let stranger = principal("mallory", Role::Editor);
        let err = delete_poll(&memory, &clock, "p1", &stranger).await.unwrap_err();
        assert!(matches!(err, Error::NotFound), "{err:?}");
    }

    fn new(url: &str) -> NewWebhook {
        NewWebhook { url: url.into(), events: vec![crate::events::EventKind::VoteCast] }
    }

    async fn register_as(memory: &Memory, caller: &Principal, url: &str) -> Result<(Webhook, String)> {
        register_webhook(memory, memory, &Fixed::at(NOW), caller, "p1", new(url), false).await
    }

    #[tokio::test]
    async fn given_the_owner_when_registering_then_stored_with_a_fresh_secret_shown_once() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let (webhook, secret) =
            register_as(&memory, &principal("owner", Role::Editor), "https://hooks.example/a").await.unwrap();
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(webhook.created_at, Fixed::at(NOW).rfc3339_now());
        let state = memory.state();
        assert_eq!(state.webhooks, [("p1".to_owned(), webhook, secret)]);
    }

    #[tokio::test]
    async fn given_strangers_bad_fields_or_a_full_poll_when_registering_then_refused_and_nothing_stored() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let stranger = register_as(&memory, &principal("someone", Role::Editor), "https://hooks.example/a").await;
        assert!(matches!(stranger, Err(Error::Forbidden)), "{stranger:?}");
        let owner = principal("owner", Role::Editor);
        let plain = register_as(&memory, &owner, "http://hooks.example/a").await;
        assert!(matches!(&plain, Err(Error::Validation(e)) if e[0].pointer == "#/url"), "{plain:?}");
        assert!(memory.state().webhooks.is_empty());
        let admin = principal("root", Role::Admin);
        for n in 0..crate::memory::WEBHOOKS_PER_POLL {
            register_as(&memory, &admin, &format!("https://hooks.example/{n}")).await.unwrap();
        }
        let full = register_as(&memory, &owner, "https://hooks.example/more").await;
        assert!(matches!(full, Err(Error::Conflict(_))), "{full:?}");
    }
}
