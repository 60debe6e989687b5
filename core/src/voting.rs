//! Casting a vote: the use case behind `POST /v1/polls/{id}/votes`.
//!
//! Invariants:
//! - a voter has at most one ballot per poll, and it is counted exactly once: the store
//!   writes and counts a ballot in one conditional step ([`Ballots::record_new`],
//!   [`Ballots::record_change`]), and this loop only decides what to ask for;
//! - every condition is checked by the store against what is stored *now*: the poll read
//!   here may be a moment stale, so a refusal the store reports is explained from a fresh,
//!   consistent read, and a race is retried from a fresh read;
//! - the same picks again write nothing and announce the ballot's current version again,
//!   with the same event id, in case its first announcement failed.

use std::time::Duration;

use crate::{
    Error,
    ballots::{Ballot, Cast, CastKind, Voter, ballot_event_id},
    clock::Clock,
    events::{Event, EventKind},
    polls::Poll,
    ports::{Announce, Ballots, Polls, Recorded, Result},
};

/// Attempts before a vote gives up on a poll or ballot that keeps changing under it.
const ATTEMPTS: u64 = 8;

/// Casts `voter`'s ballot with the `requested` option ids on poll `poll_id`, then
/// announces it (`vote.cast` / `vote.changed`). See the module for the invariants.
pub async fn cast_vote(
    polls: &impl Polls,
    ballots: &impl Ballots,
    announce: &impl Announce,
    clock: &impl Clock,
    poll_id: &str,
    voter: Voter<'_>,
    requested: &[String],
) -> Result<Cast> {
    let cast = record(polls, ballots, clock, poll_id, voter, requested).await?;
    let kind = if cast.kind == CastKind::New { EventKind::VoteCast } else { EventKind::VoteChanged };
    let data = serde_json::json!({"option_ids": cast.ballot.option_ids, "cast_at": cast.ballot.cast_at});
    let event = Event {
        id: cast.event_id.clone(),
        kind,
        poll_id: poll_id.to_owned(),
        occurred_at: cast.ballot.cast_at.clone(),
        data,
    };
    announce.publish(&event).await?;
    Ok(cast)
}

/// Writes the ballot, retrying on races; what was written (or found).
async fn record(
    polls: &impl Polls,
    ballots: &impl Ballots,
    clock: &impl Clock,
    poll_id: &str,
    voter: Voter<'_>,
    requested: &[String],
) -> Result<Cast> {
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            clock.sleep(Duration::from_millis(5 * attempt)).await;
        }
        let now = clock.epoch_secs();
        // The first read may be stale by a moment; a retry reads consistently.
        let stored = polls.poll(poll_id, attempt > 0).await?.ok_or(Error::NotFound)?;
        let poll = stored.poll.clone().effective(now);
        if let Some(refusal) = poll.refuses_vote(voter.guest, false) {
            return Err(refusal);
        }
        let picks = poll.check_ballot(requested)?;
        let ballot = Ballot { poll_id: poll_id.to_owned(), option_ids: picks, cast_at: clock.rfc3339_now() };
        match ballots.record_new(&stored, voter, &ballot, now).await? {
            Recorded::Done => {
                let event_id = ballot_event_id(poll_id, voter.sub, 1);
                return Ok(Cast { kind: CastKind::New, ballot, event_id });
            }
            Recorded::Exists => {
                if let Some(cast) = change(polls, ballots, &poll, voter, ballot, now).await? {
                    return Ok(cast);
                }
            }
            Recorded::Refused => explain_refusal(polls, poll_id, voter, false, now).await?,
            Recorded::Raced => {}
        }
    }
    Err(Error::Conflict("Too many concurrent changes to this ballot; retry.".into()))
}

/// Replaces the voter's existing ballot with `ballot`; `None` when it changed under us
/// (or the poll's rules did and allow it after all): read again.
async fn change(
    polls: &impl Polls,
    ballots: &impl Ballots,
    poll: &Poll,
    voter: Voter<'_>,
    ballot: Ballot,
    now: u64,
) -> Result<Option<Cast>> {
    let Some(current) = ballots.ballot(&poll.id, voter.sub).await? else { return Ok(None) };
    if current.ballot.has_picks(&ballot.option_ids) {
        let event_id = ballot_event_id(&poll.id, voter.sub, current.version);
        return Ok(Some(Cast { kind: CastKind::Same, ballot: current.ballot, event_id }));
    }
    if let Some(refusal) = poll.refuses_vote(voter.guest, true) {
        return Err(refusal);
    }
    let version = current.version;
    match ballots.record_change(poll, voter, &current, &ballot, now).await? {
        Recorded::Done => {
            let event_id = ballot_event_id(&poll.id, voter.sub, version + 1);
            Ok(Some(Cast { kind: CastKind::Changed, ballot, event_id }))
        }
        Recorded::Refused => {
            explain_refusal(polls, &poll.id, voter, true, now).await?;
            Ok(None)
        }
        Recorded::Exists | Recorded::Raced => Ok(None),
    }
}

/// The store refused a vote: the poll's rules changed since it was read. The refusal by
/// the current rules, or `Ok` when they accept it after all (then retry).
async fn explain_refusal(polls: &impl Polls, poll_id: &str, voter: Voter<'_>, changing: bool, now: u64) -> Result<()> {
    let stored = polls.poll(poll_id, true).await?.ok_or(Error::NotFound)?;
    match stored.poll.effective(now).refuses_vote(voter.guest, changing) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ballots::StoredBallot,
        clock::Fixed,
        memory::{Memory, NOW, open_poll},
        polls::Status,
    };

    const ALICE: Voter<'static> = Voter { sub: "alice", guest: false };

    async fn vote(memory: &Memory, voter: Voter<'_>, picks: &[&str]) -> Result<Cast> {
        let picks: Vec<String> = picks.iter().map(|p| (*p).to_owned()).collect();
        cast_vote(memory, memory, memory, &Fixed::at(NOW), "p1", voter, &picks).await
    }

    /// The ids of poll p1's options, by position.
    fn option_ids(memory: &Memory) -> Vec<String> {
        memory.state().polls["p1"].poll.options.iter().map(|o| o.id.clone()).collect()
    }

    #[tokio::test]
    async fn given_an_open_poll_when_a_voter_votes_then_it_is_counted_once_and_announced() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        let cast = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!(cast.kind, CastKind::New);
        assert_eq!(cast.event_id, ballot_event_id("p1", "alice", 1));
        assert_eq!(memory.counts("p1"), (1, [(ids[0].clone(), 1)].into()));
        assert!(memory.state().polls["p1"].voting_started);
        let announced = memory.announced.lock().unwrap().clone();
        assert_eq!((announced.len(), announced[0].kind, &announced[0].id), (1, EventKind::VoteCast, &cast.event_id));
    }

    #[tokio::test]
    async fn given_a_ballot_when_the_same_picks_come_again_then_nothing_is_written_and_the_same_event_id_is_announced()
    {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        let first = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        let again = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!((again.kind, &again.event_id, &again.ballot), (CastKind::Same, &first.event_id, &first.ballot));
        assert_eq!(memory.announced_ids(), [first.event_id.clone(), first.event_id]);
        assert_eq!(memory.counts("p1").0, 1);
    }

    #[tokio::test]
    async fn given_changes_allowed_when_a_voter_changes_then_counts_move_and_the_next_version_is_announced() {
        let mut poll = open_poll(&["Pizza", "Sushi"]);
        poll.allow_vote_change = true;
        let memory = Memory::with_poll(poll);
        let ids = option_ids(&memory);
        vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        let changed = vote(&memory, ALICE, &[&ids[1]]).await.unwrap();
        assert_eq!((changed.kind, changed.event_id), (CastKind::Changed, ballot_event_id("p1", "alice", 2)));
        assert_eq!(memory.counts("p1"), (1, [(ids[0].clone(), 0), (ids[1].clone(), 1)].into()));
    }

    #[tokio::test]
    async fn given_changes_not_allowed_when_a_voter_changes_then_409_and_the_ballot_stays() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        let err = vote(&memory, ALICE, &[&ids[1]]).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(ref s) if s.contains("does not allow changing")), "{err:?}");
        assert_eq!(memory.counts("p1"), (1, [(ids[0].clone(), 1)].into()));
    }

    #[tokio::test]
    async fn given_a_vote_when_the_poll_closes_between_its_read_and_its_write_then_409_and_nothing_counts() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        memory.before_next_write(|state| {
            let stored = state.polls.get_mut("p1").unwrap();
            stored.poll = stored.poll.next_version(Status::Closed, "2027-01-15T08:00:00Z");
        });
        let err = vote(&memory, ALICE, &[&ids[0]]).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(ref s) if s == "The poll is closed."), "{err:?}");
        assert_eq!(memory.counts("p1").0, 0);
        assert!(memory.state().ballots.is_empty() && memory.announced_ids().is_empty());
    }

    #[tokio::test]
    async fn given_a_vote_when_a_patch_removes_its_option_before_the_write_then_400_and_no_ballot() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi", "Tacos"]));
        let ids = option_ids(&memory);
        let removed = ids[2].clone();
        memory.before_next_write(move |state| {
            let stored = state.polls.get_mut("p1").unwrap();
            stored.poll.options.retain(|o| o.id != removed);
            stored.poll.version += 1;
        });
        let err = vote(&memory, ALICE, &[&ids[2]]).await.unwrap_err();
        assert!(matches!(err, Error::Validation(ref e) if e[0].pointer == "#/option_ids/0"), "{err:?}");
        assert!(memory.state().ballots.is_empty() && memory.announced_ids().is_empty());
        assert!(!memory.state().polls["p1"].voting_started, "the refused vote froze nothing");
    }

    #[tokio::test]
    async fn given_a_vote_when_a_patch_keeps_its_option_before_the_write_then_it_counts_once_on_the_new_version() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        memory.before_next_write(|state| state.polls.get_mut("p1").unwrap().poll.version += 1);
        let cast = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!(cast.kind, CastKind::New);
        assert_eq!(memory.counts("p1"), (1, [(ids[0].clone(), 1)].into()));
        assert_eq!(memory.state().polls["p1"].poll.version, 2);
    }

    #[tokio::test]
    async fn given_a_transaction_conflict_when_voting_then_it_is_retried_and_counted_once() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        memory.race_next_write();
        assert_eq!(vote(&memory, ALICE, &[&ids[0]]).await.unwrap().kind, CastKind::New);
        assert_eq!(memory.counts("p1").0, 1);
    }

    #[tokio::test]
    async fn given_a_ballot_when_the_same_voter_votes_concurrently_then_the_store_finds_it_and_counts_nothing_more() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        let picks = vec![ids[0].clone()];
        memory.before_next_write(move |state| {
            let ballot = Ballot { poll_id: "p1".into(), option_ids: picks, cast_at: "t".into() };
            state.ballots.insert(("p1".into(), "alice".into()), StoredBallot { ballot, version: 1 });
        });
        let cast = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!((cast.kind, cast.event_id), (CastKind::Same, ballot_event_id("p1", "alice", 1)));
        assert_eq!(memory.counts("p1").0, 0, "the racing copy counted itself; this one adds nothing");
    }

    #[tokio::test]
    async fn given_a_guest_when_the_poll_admits_no_guests_then_403() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        let err = vote(&memory, Voter { sub: "g-1", guest: true }, &[&ids[0]]).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden), "{err:?}");
    }

    #[tokio::test]
    async fn given_a_poll_past_closes_at_when_voting_then_409() {
        let mut poll = open_poll(&["Pizza", "Sushi"]);
        poll.closes_at = Some("2026-01-01T00:00:00Z".into());
        let memory = Memory::with_poll(poll);
        let ids = option_ids(&memory);
        assert!(matches!(vote(&memory, ALICE, &[&ids[0]]).await, Err(Error::Conflict(_))));
    }
}
