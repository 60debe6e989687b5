//! Casting a vote: the use case behind `POST /v1/polls/{id}/votes`.
//!
//! Invariants:
//! - a voter has at most one ballot per poll: a first ballot is written only if the voter
//!   has none, a change only over the version read ([`Ballots`]); each is one write, and
//!   the tally counts it from the table's stream;
//! - a voter is answered 201/200 only for a ballot that counts: the vote is checked
//!   against the poll's rules at the instant written as its `cast_at`, by the rule of
//!   [`crate::counting`], on a copy of the poll at most [`crate::counting::CACHE_TTL_MS`]
//!   old (the first attempt) or as stored now (a retry); a refusal always comes from the
//!   poll as stored now;
//! - no ballot counts against options that may still change: while the poll shows voting
//!   not started, the vote first marks it started, on the version it checked the picks
//!   against ([`Polls::start_voting`]);
//! - the same picks again write nothing. The vote sends no event: the tally relays
//!   `vote.cast` / `vote.changed` from the ballot's stream record ([`crate::relaying`]),
//!   so a committed ballot is announced even if this function dies before answering.

use std::time::Duration;

use crate::{
    Error,
    ballots::{Ballot, Cast, CastKind, StoredBallot, Voter},
    clock::{Clock, rfc3339_ms},
    polls::StoredPoll,
    ports::{Ballots, Polls, Recorded, Result},
};

/// Attempts before a vote gives up on a poll or ballot that keeps changing under it.
const ATTEMPTS: u64 = 8;

/// Casts `voter`'s ballot with the `requested` option ids on poll `poll_id`, retrying on
/// races; what was written (or found). See the module for the invariants.
pub async fn cast_vote(
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
        // The first read may be a cached copy; a retry reads the poll as stored now. What
        // a copy refuses is checked again on the poll as stored now.
        let cached = attempt == 0;
        let Some(stored) = polls.poll(poll_id, !cached).await? else {
            if cached {
                continue;
            }
            return Err(Error::NotFound);
        };
        let now_ms = clock.epoch_ms();
        let checked = match stored.refuses_vote(voter, false, now_ms) {
            Some(refusal) => Err(refusal),
            None => stored.poll.check_ballot(requested),
        };
        let picks = match checked {
            Err(_) if cached => continue,
            checked => checked?,
        };
        if !stored.voting_started && !polls.start_voting(&stored).await? {
            continue;
        }
        let ballot = Ballot { poll_id: poll_id.to_owned(), option_ids: picks, cast_at: rfc3339_ms(now_ms) };
        match ballots.record_new(voter.sub, &ballot).await? {
            Recorded::Done => {
                return Ok(Cast { kind: CastKind::New, ballot });
            }
            Recorded::Exists(current) => {
                if let Some(cast) = change(ballots, &stored, voter, current, ballot, now_ms).await? {
                    return Ok(cast);
                }
            }
        }
    }
    Err(Error::Conflict("Too many concurrent changes to this ballot; retry.".into()))
}

/// Replaces the voter's `current` ballot with `ballot`; `None` when it changed under us:
/// read again.
async fn change(
    ballots: &impl Ballots,
    stored: &StoredPoll,
    voter: Voter<'_>,
    current: StoredBallot,
    ballot: Ballot,
    now_ms: u64,
) -> Result<Option<Cast>> {
    if current.ballot.has_picks(&ballot.option_ids) {
        return Ok(Some(Cast { kind: CastKind::Same, ballot: current.ballot }));
    }
    if let Some(refusal) = stored.refuses_vote(voter, true, now_ms) {
        return Err(refusal);
    }
    if !ballots.record_change(voter.sub, &current, &ballot).await? {
        return Ok(None);
    }
    Ok(Some(Cast { kind: CastKind::Changed, ballot }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::Fixed,
        memory::{Memory, NOW, open_poll},
        polls::Status,
    };

    const ALICE: Voter<'static> = Voter { sub: "alice", guest: false, verified: true };

    async fn vote(memory: &Memory, voter: Voter<'_>, picks: &[&str]) -> Result<Cast> {
        let picks: Vec<String> = picks.iter().map(|p| (*p).to_owned()).collect();
        cast_vote(memory, memory, &Fixed::at(NOW), "p1", voter, &picks).await
    }

    /// The version of `voter`'s ballot on p1.
    fn version(memory: &Memory, voter: &str) -> Option<u64> {
        memory.state().ballots.get(&("p1".to_owned(), voter.to_owned())).map(|b| b.version)
    }

    /// The ids of poll p1's options, by position.
    fn option_ids(memory: &Memory) -> Vec<String> {
        memory.state().polls["p1"].poll.options.iter().map(|o| o.id.clone()).collect()
    }

    #[tokio::test]
    async fn given_an_open_poll_when_a_voter_votes_then_it_is_counted_once() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        let cast = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!(cast.kind, CastKind::New);
        assert_eq!(version(&memory, "alice"), Some(1));
        assert_eq!(memory.counts("p1"), (1, [(ids[0].clone(), 1)].into()));
        assert!(memory.state().polls["p1"].voting_started);
    }

    #[tokio::test]
    async fn given_a_ballot_when_the_same_picks_come_again_then_nothing_is_written() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        let first = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        let again = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!((again.kind, &again.ballot), (CastKind::Same, &first.ballot));
        assert_eq!(version(&memory, "alice"), Some(1));
        assert_eq!(memory.counts("p1").0, 1);
    }

    #[tokio::test]
    async fn given_changes_allowed_when_a_voter_changes_then_counts_move_and_the_version_grows() {
        let mut poll = open_poll(&["Pizza", "Sushi"]);
        poll.allow_vote_change = true;
        let memory = Memory::with_poll(poll);
        let ids = option_ids(&memory);
        vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        let changed = vote(&memory, ALICE, &[&ids[1]]).await.unwrap();
        assert_eq!((changed.kind, version(&memory, "alice")), (CastKind::Changed, Some(2)));
        assert_eq!(memory.counts("p1"), (1, [(ids[1].clone(), 1)].into()));
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
    async fn given_a_vote_when_the_poll_closes_between_its_read_and_its_write_then_it_counts_as_the_close_is_ahead() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        memory.state().polls.get_mut("p1").unwrap().voting_started = true;
        let ids = option_ids(&memory);
        memory.before_next_write(|state| {
            let stored = state.polls.get_mut("p1").unwrap();
            let closed = stored.poll.next_version(Status::Closed, "2027-01-15T08:00:00Z");
            *stored = stored.succeeded_by(closed, NOW * 1000);
        });
        let cast = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!(cast.kind, CastKind::New);
        assert_eq!(memory.counts("p1").0, 1, "the ballot's cast_at is before the closing in force");
        let err = vote(&memory, Voter { sub: "bob", guest: false, verified: true }, &[&ids[0]]).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(ref s) if s == "The poll is closed."), "who sees the close is refused");
        assert_eq!(memory.counts("p1").0, 1);
    }

    #[tokio::test]
    async fn given_a_closed_interval_in_force_when_a_copy_shows_the_poll_open_then_the_vote_is_refused() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        // Closed from a moment ago and reopened later than now: this instant is closed time.
        memory.state().polls.get_mut("p1").unwrap().closed = vec![(NOW * 1000 - 1, Some(NOW * 1000 + 1))];
        let err = vote(&memory, ALICE, &[&ids[0]]).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(ref s) if s == "The poll is closed."), "{err:?}");
        assert!(memory.state().ballots.is_empty());
    }

    #[test]
    fn given_a_close_then_a_reopen_then_only_the_closed_time_between_is_kept() {
        let stored = StoredPoll::new(open_poll(&["Pizza", "Sushi"]));
        let closed = stored.succeeded_by(stored.poll.next_version(Status::Closed, "t"), 10_000);
        assert_eq!(closed.closed, [(12_000, None)]);
        let early = closed.succeeded_by(closed.poll.next_version(Status::Open, "t"), 11_000);
        assert!(early.closed.is_empty(), "a reopen before the close took effect drops it");
        let reopened = closed.succeeded_by(closed.poll.next_version(Status::Open, "t"), 20_000);
        assert_eq!(reopened.closed, [(12_000, Some(20_000))]);
        assert!(reopened.openings().counts_at(11_999) && !reopened.openings().counts_at(12_000));
        assert!(reopened.openings().counts_at(20_000));
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
        assert!(memory.state().ballots.is_empty());
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
    async fn given_a_lost_race_to_start_voting_when_voting_then_it_is_retried_and_counted_once() {
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
            let ballot = Ballot { poll_id: "p1".into(), option_ids: picks, cast_at: rfc3339_ms(NOW * 1000) };
            state.ballots.insert(("p1".into(), "alice".into()), StoredBallot { ballot, version: 1 });
        });
        let cast = vote(&memory, ALICE, &[&ids[0]]).await.unwrap();
        assert_eq!((cast.kind, version(&memory, "alice")), (CastKind::Same, Some(1)));
        assert_eq!(memory.counts("p1").0, 1, "the racing copy counts; this one adds nothing");
    }

    #[tokio::test]
    async fn given_a_guest_when_the_poll_admits_no_guests_then_403() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let ids = option_ids(&memory);
        let err = vote(&memory, Voter { sub: "g-1", guest: true, verified: false }, &[&ids[0]]).await.unwrap_err();
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
