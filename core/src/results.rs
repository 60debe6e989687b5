//! Reading a poll's results: the use case behind `GET /v1/polls/{id}/results` (and
//! live results). Results are shown within the poll's `results_visibility`; the
//! owner and admins always see them.

use crate::{
    Error,
    access::Principal,
    clock::Clock,
    polls::{Poll, Results, ResultsVisibility, Status, StoredPoll},
    ports::{Ballots, Polls, Result, Tallies},
};

/// How long after a closing takes effect its results are taken as settled: ballots cast
/// before it reach the counts within the stream tally's delay (about a second, more
/// while it retries), so until then closed results may still grow.
pub const SETTLE_MS: u64 = 60_000;

/// How long results can still change: what a client may cache them for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// Open: every vote changes them.
    Open,
    /// Closed less than [`SETTLE_MS`] ago (or closing): the last ballots may still be
    /// on their way into the counts.
    Settling,
    /// Closed by hand: it may reopen.
    Closed,
    /// Past `closes_at`: they never change again.
    Final,
}

impl Finality {
    /// Seconds a client may cache results this final.
    pub fn max_age_secs(self) -> u32 {
        match self {
            Self::Open | Self::Settling => 5,
            Self::Closed => 3600,
            Self::Final => 86_400,
        }
    }
}

/// Poll `poll_id`'s results now, with the poll as it stands (strongly consistent), for
/// pushing to watchers each admitted when they subscribed (`crate::live::admission`);
/// `None` when it is deleted.
pub async fn current_results(
    polls: &impl Polls,
    tallies: &impl Tallies,
    clock: &impl Clock,
    poll_id: &str,
) -> Result<Option<(Poll, Results)>> {
    let Some(stored) = polls.poll(poll_id, true).await? else { return Ok(None) };
    let poll = stored.poll.effective(clock.epoch_secs());
    let results = results_of(tallies, clock, &poll).await?;
    Ok(Some((poll, results)))
}

async fn results_of(tallies: &impl Tallies, clock: &impl Clock, poll: &Poll) -> Result<Results> {
    let tally = tallies.tally(&poll.id).await?;
    Ok(Results::of(poll, tally.total, &tally.votes, clock.rfc3339_now()))
}

/// Poll `poll_id`'s results as `caller` may see them now (`None`: an anonymous watcher
/// of live results, who sees what everyone sees), with how final they are;
/// `ResultsHidden` when its `results_visibility` hides them from the caller for now.
pub async fn read_results(
    polls: &impl Polls,
    ballots: &impl Ballots,
    tallies: &impl Tallies,
    clock: &impl Clock,
    poll_id: &str,
    caller: Option<&Principal>,
) -> Result<(Results, Finality)> {
    let (now, now_ms) = (clock.epoch_secs(), clock.epoch_ms());
    let stored = polls.poll(poll_id, false).await?.ok_or(Error::NotFound)?;
    let closed_since = closed_since(&stored, now_ms);
    let poll: Poll = stored.poll.effective(now);
    let needs_ballot = poll.results_visibility == ResultsVisibility::AfterVote && poll.status == Status::Open;
    let has_voted = match caller {
        Some(caller) if needs_ballot => ballots.ballot(poll_id, &caller.sub).await?.is_some(),
        _ => false,
    };
    if !crate::polls::may_watch(&poll, caller, has_voted) {
        return Err(Error::ResultsHidden);
    }
    let results = results_of(tallies, clock, &poll).await?;
    let finality = match poll.status {
        Status::Open => Finality::Open,
        Status::Closed if closed_since.is_none_or(|since| since + SETTLE_MS > now_ms) => Finality::Settling,
        Status::Closed if poll.expired(now) => Finality::Final,
        Status::Closed => Finality::Closed,
    };
    Ok((results, finality))
}

/// Since when no ballot of `stored` counts, if that time has come: its `closes_at`, or
/// the start of the closed interval in force.
fn closed_since(stored: &StoredPoll, now_ms: u64) -> Option<u64> {
    let closes_at = stored.poll.closes_at_epoch().map(|at| at * 1000);
    let closed_by_hand = match stored.closed.last() {
        Some(&(from, None)) => Some(from),
        // Closed before closed intervals were recorded.
        _ if stored.poll.status == Status::Closed => Some(0),
        _ => None,
    };
    closes_at.into_iter().chain(closed_by_hand).filter(|since| *since <= now_ms).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        access::{Role, TokenKind},
        ballots::Voter,
        clock::Fixed,
        memory::{Memory, NOW, open_poll},
        voting::cast_vote,
    };

    fn viewer(sub: &str) -> Principal {
        Principal { sub: sub.into(), roles: vec![Role::Viewer], token_kind: TokenKind::Access, email_verified: false }
    }

    #[tokio::test]
    async fn given_results_after_vote_when_read_then_only_voters_and_the_owner_see_them() {
        let mut poll = open_poll(&["a", "b"]);
        poll.results_visibility = ResultsVisibility::AfterVote;
        let option = poll.options[0].id.clone();
        let memory = Memory::with_poll(poll);
        let clock = Fixed::at(NOW);
        let hidden = read_results(&memory, &memory, &memory, &clock, "p1", Some(&viewer("v1"))).await.unwrap_err();
        assert!(matches!(hidden, Error::ResultsHidden), "{hidden:?}");
        cast_vote(
            &memory,
            &memory,
            &clock,
            "p1",
            Voter { sub: "v1", guest: false, verified: true },
            std::slice::from_ref(&option),
        )
        .await
        .unwrap();
        let (results, finality) =
            read_results(&memory, &memory, &memory, &clock, "p1", Some(&viewer("v1"))).await.unwrap();
        assert_eq!((results.total_ballots, results.options[0].votes, finality), (1, 1, Finality::Open));
        let owner = Principal {
            sub: "owner".into(),
            roles: vec![Role::Editor],
            token_kind: TokenKind::Access,
            email_verified: false,
        };
        assert!(read_results(&memory, &memory, &memory, &clock, "p1", Some(&owner)).await.is_ok());
    }

    #[tokio::test]
    async fn given_a_poll_past_closes_at_when_read_then_the_results_are_final() {
        let mut poll = open_poll(&["a", "b"]);
        poll.closes_at = Some("2026-01-01T00:00:00Z".into());
        let memory = Memory::with_poll(poll);
        let (results, finality) =
            read_results(&memory, &memory, &memory, &Fixed::at(NOW), "p1", Some(&viewer("v"))).await.unwrap();
        assert_eq!((results.status, finality), (Status::Closed, Finality::Final));
    }

    #[tokio::test]
    async fn given_a_closing_until_a_minute_after_it_takes_effect_then_results_are_settling() {
        let memory = Memory::with_poll(open_poll(&["a", "b"]));
        let read = |at: u64| {
            let memory = &memory;
            async move { read_results(memory, memory, memory, &Fixed::at(at), "p1", Some(&viewer("v"))).await.unwrap().1 }
        };
        {
            let mut state = memory.state();
            let stored = state.polls.get_mut("p1").unwrap();
            let closed = stored.poll.next_version(Status::Closed, "t");
            *stored = stored.succeeded_by(closed, NOW * 1000);
        }
        let effective = NOW + crate::counting::CLOSING_DELAY_MS / 1000;
        assert_eq!(read(NOW).await, Finality::Settling, "closed, not yet in effect");
        assert_eq!(read(effective + SETTLE_MS / 1000 - 1).await, Finality::Settling);
        assert_eq!(read(effective + SETTLE_MS / 1000).await, Finality::Closed);
    }
}
