//! Reading a poll's results: the use case behind `GET /v1/polls/{id}/results` (and,
//! next, live results). Results are shown within the poll's `results_visibility`; the
//! owner and admins always see them.

use crate::{
    Error,
    access::Principal,
    clock::Clock,
    polls::{Poll, Results, ResultsVisibility, Status},
    ports::{Ballots, Polls, Result, Tallies},
};

/// How long results can still change: what a client may cache them for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// Open: every vote changes them.
    Open,
    /// Closed by hand: it may reopen.
    Closed,
    /// Past `closes_at`: they never change again.
    Final,
}

/// Poll `poll_id`'s results as `caller` may see them now, with how final they are;
/// `ResultsHidden` when its `results_visibility` hides them from the caller for now.
pub async fn read_results(
    polls: &impl Polls,
    ballots: &impl Ballots,
    tallies: &impl Tallies,
    clock: &impl Clock,
    poll_id: &str,
    caller: &Principal,
) -> Result<(Results, Finality)> {
    let now = clock.epoch_secs();
    let poll: Poll = polls.poll(poll_id, false).await?.ok_or(Error::NotFound)?.poll.effective(now);
    let needs_ballot = poll.results_visibility == ResultsVisibility::AfterVote && poll.status == Status::Open;
    let has_voted = needs_ballot && ballots.ballot(poll_id, &caller.sub).await?.is_some();
    if !poll.results_visible_to(caller, has_voted) {
        return Err(Error::ResultsHidden);
    }
    let tally = tallies.tally(poll_id).await?;
    let results = Results::of(&poll, tally.total, &tally.votes, clock.rfc3339_now());
    let finality = match poll.status {
        Status::Open => Finality::Open,
        Status::Closed if poll.expired(now) => Finality::Final,
        Status::Closed => Finality::Closed,
    };
    Ok((results, finality))
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
        Principal { sub: sub.into(), roles: vec![Role::Viewer], token_kind: TokenKind::Access }
    }

    #[tokio::test]
    async fn given_results_after_vote_when_read_then_only_voters_and_the_owner_see_them() {
        let mut poll = open_poll(&["a", "b"]);
        poll.results_visibility = ResultsVisibility::AfterVote;
        let option = poll.options[0].id.clone();
        let memory = Memory::with_poll(poll);
        let clock = Fixed::at(NOW);
        let hidden = read_results(&memory, &memory, &memory, &clock, "p1", &viewer("v1")).await.unwrap_err();
        assert!(matches!(hidden, Error::ResultsHidden), "{hidden:?}");
        cast_vote(
            &memory,
            &memory,
            &memory,
            &clock,
            "p1",
            Voter { sub: "v1", guest: false },
            std::slice::from_ref(&option),
        )
        .await
        .unwrap();
        let (results, finality) = read_results(&memory, &memory, &memory, &clock, "p1", &viewer("v1")).await.unwrap();
        assert_eq!((results.total_ballots, results.options[0].votes, finality), (1, 1, Finality::Open));
        let owner = Principal { sub: "owner".into(), roles: vec![Role::Editor], token_kind: TokenKind::Access };
        assert!(read_results(&memory, &memory, &memory, &clock, "p1", &owner).await.is_ok());
    }

    #[tokio::test]
    async fn given_a_poll_past_closes_at_when_read_then_the_results_are_final() {
        let mut poll = open_poll(&["a", "b"]);
        poll.closes_at = Some("2026-01-01T00:00:00Z".into());
        let memory = Memory::with_poll(poll);
        let (results, finality) =
            read_results(&memory, &memory, &memory, &Fixed::at(NOW), "p1", &viewer("v")).await.unwrap();
        assert_eq!((results.status, finality), (Status::Closed, Finality::Final));
    }
}
