//! Which ballots count: a rule on stored data, in milliseconds, that the vote path, the
//! tally and a recount all apply.
//!
//! A ballot counts, with its current picks, iff its latest write (`cast_at`, ms) falls in
//! the poll's open time: before its `closes_at`, and outside every closed interval
//! `[closed_at, reopened_at)`.
//!
//! Why a voter never gets 201/200 for a ballot that does not count: the vote path writes
//! `cast_at` from its own clock and refuses when that instant is not open by the poll's
//! rules as it knows them, from a copy at most [`CACHE_TTL_MS`] old. A copy that old may
//! miss a closing committed since; so a closing takes effect [`CLOSING_DELAY_MS`] after
//! it commits (the cache's age plus [`SKEW_MARGIN_MS`] for clocks that differ): any vote
//! path that has not seen it yet writes a `cast_at` before it, which counts. A reopening
//! takes effect when it commits: a vote path that has not seen it refuses (409), which is
//! safe. A `closes_at` is set ahead by at least the same delay for the same reason.

/// How long a warm function keeps its copy of a poll's rules.
pub const CACHE_TTL_MS: u64 = 1_000;
/// How far the clocks of two functions may differ (Lambda's are NTP-synchronised to
/// well under this).
pub const SKEW_MARGIN_MS: u64 = 1_000;
/// How long after it commits a closing takes effect.
pub const CLOSING_DELAY_MS: u64 = CACHE_TTL_MS + SKEW_MARGIN_MS;

/// The times a poll is closed, as stored on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Openings {
    /// `closes_at`, if the poll has one (ms).
    pub closes_at_ms: Option<u64>,
    /// Closed intervals `[closed_at, reopened_at)`, oldest first; the last may be open-ended.
    pub closed: Vec<(u64, Option<u64>)>,
}

impl Openings {
    /// Whether a ballot written at `at_ms` counts.
    pub fn counts_at(&self, at_ms: u64) -> bool {
        self.closes_at_ms.is_none_or(|closes| at_ms < closes)
            && !self.closed.iter().any(|&(from, until)| at_ms >= from && until.is_none_or(|until| at_ms < until))
    }
}

/// What a poll's counters say: ballots counted and votes per option id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub total: u64,
    pub votes: std::collections::HashMap<String, u64>,
}

/// The counts of a poll from its ballots alone (the current picks and `cast_at` of each,
/// an RFC 3339 time judged to the millisecond), by the rule: what the tally must hold
/// once it has caught up. `None` when a `cast_at` is not a time.
pub fn recount<'a>(openings: &Openings, ballots: impl IntoIterator<Item = (&'a [String], &'a str)>) -> Option<Tally> {
    let mut tally = Tally::default();
    for (picks, cast_at) in ballots {
        if !openings.counts_at(crate::clock::parse_instant_ms(cast_at)?) {
            continue;
        }
        tally.total += 1;
        for id in picks {
            *tally.votes.entry(id.clone()).or_default() += 1;
        }
    }
    Some(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_closings_and_a_reopening_then_only_open_time_counts() {
        let openings = Openings { closes_at_ms: Some(10_000), closed: vec![(2_000, Some(3_000)), (5_000, None)] };
        let counted: Vec<u64> = [0, 1_999, 2_000, 2_999, 3_000, 4_999, 5_000, 9_999]
            .into_iter()
            .filter(|&t| openings.counts_at(t))
            .collect();
        assert_eq!(counted, [0, 1_999, 3_000, 4_999]);
        let scheduled = Openings { closes_at_ms: Some(10_000), closed: vec![] };
        assert!(scheduled.counts_at(9_999) && !scheduled.counts_at(10_000));
        assert!(Openings::default().counts_at(u64::MAX));
    }

    #[test]
    fn given_ballots_in_the_second_of_a_reopening_then_the_recount_judges_them_to_the_millisecond() {
        let reopened = 1_800_000_000_500;
        let openings = Openings { closes_at_ms: None, closed: vec![(reopened - 10_000, Some(reopened))] };
        let ballot = |at: u64| crate::ballots::Ballot {
            poll_id: "p".into(),
            option_ids: vec!["a".into()],
            cast_at: crate::clock::rfc3339_ms(at),
        };
        let ballots = [ballot(reopened - 1), ballot(reopened), ballot(reopened + 499)];
        let tally = recount(&openings, ballots.iter().map(crate::ballots::Ballot::as_counted)).unwrap();
        assert_eq!((tally.total, tally.votes["a"]), (2, 2), "the one before the reopening is out, not those after it");
        let unreadable = crate::ballots::Ballot { cast_at: "yesterday".into(), ..ballot(0) };
        assert_eq!(recount(&openings, [unreadable.as_counted()]), None);
    }
}
