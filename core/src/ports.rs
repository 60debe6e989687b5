//! The ports: what the use cases need of storage and messaging, as traits. `shared`
//! implements them on DynamoDB, SQS and EventBridge Scheduler; the tests of this crate
//! implement them in memory. Every method answers the domain [`Error`]: an adapter maps
//! its own failures to [`Error::Internal`] or [`Error::Unavailable`].
//!
//! The futures are `Send`, so a use case runs on any multi-threaded executor.

use std::future::Future;

use crate::{
    Error,
    ballots::{Ballot, StoredBallot, Voter},
    events::Event,
    polls::{Poll, StoredPoll},
};

pub type Result<T> = std::result::Result<T, Error>;

/// How a poll was last closed: the version that closing produced and the poll's
/// `closes_at` then. Every announcement of one closing derives its id from this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    pub closes_at: Option<u64>,
    pub version: u64,
}

/// Polls as stored.
pub trait Polls: Send + Sync {
    /// Poll `id` unless it does not exist or is deleted; `consistent` reads the latest
    /// write (else a read may be a moment stale).
    fn poll(&self, id: &str, consistent: bool) -> impl Future<Output = Result<Option<StoredPoll>>> + Send;

    /// Writes `next` over `read` (or a tombstone of it, when `delete`), only if the
    /// stored poll is still `read` (version, `voting_started`, not deleted); when `next`
    /// closes the poll, records its [`Closing`] in the same write. `false`: the poll
    /// changed meanwhile, nothing was written.
    fn replace_poll(&self, read: &StoredPoll, next: &Poll, delete: bool) -> impl Future<Output = Result<bool>> + Send;

    /// How poll `id` was last closed, if it ever was.
    fn last_closing(&self, id: &str) -> impl Future<Output = Result<Option<Closing>>> + Send;

    /// Poll `id` if it is deleted and its purge has not finished yet.
    fn tombstone(&self, id: &str) -> impl Future<Output = Result<Option<Poll>>> + Send;

    /// Writes a new poll, only if no poll has its id.
    fn create_poll(&self, poll: &Poll) -> impl Future<Output = Result<()>> + Send;
}

/// What a ballot write came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Written, and counted.
    Done,
    /// A new ballot, but the voter has one already: nothing written.
    Exists,
    /// The poll's rules as stored now refuse it (closed, guests, changes): nothing written.
    Refused,
    /// Something it depends on changed meanwhile (the ballot's or the poll's version, a
    /// concurrent transaction): nothing written; read again and retry.
    Raced,
}

/// Ballots and their counts.
pub trait Ballots: Send + Sync {
    /// `voter`'s ballot on poll `poll_id`.
    fn ballot(&self, poll_id: &str, voter: &str) -> impl Future<Output = Result<Option<StoredBallot>>> + Send;

    /// Records `ballot` as `voter`'s first on `poll` (version 1) and counts it, only if
    /// the voter has none and the poll's stored rules accept it at `now`; while voting has
    /// not started, also marks it started, only if the poll is still the version read.
    fn record_new(
        &self,
        poll: &StoredPoll,
        voter: Voter<'_>,
        ballot: &Ballot,
        now: u64,
    ) -> impl Future<Output = Result<Recorded>> + Send;

    /// Replaces `current` with `ballot` (version + 1) and moves the counts, only if the
    /// stored ballot is still `current` and the poll's stored rules accept a change at `now`.
    fn record_change(
        &self,
        poll: &Poll,
        voter: Voter<'_>,
        current: &StoredBallot,
        ballot: &Ballot,
        now: u64,
    ) -> impl Future<Output = Result<Recorded>> + Send;
}

/// What a poll's counters say: ballots counted and votes per option id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub total: u64,
    pub votes: std::collections::HashMap<String, u64>,
}

/// The counts of polls.
pub trait Tallies: Send + Sync {
    /// Poll `poll_id`'s counts, including every ballot whose write has been answered.
    fn tally(&self, poll_id: &str) -> impl Future<Output = Result<Tally>> + Send;
}

/// The closing schedules: one per (poll, closing time, poll version that sets it).
pub trait Schedules: Send + Sync {
    /// Schedules the closing of poll `poll_id` at `closes_at` (epoch seconds, ahead)
    /// that its version `version` sets; one already there is kept.
    fn schedule(&self, poll_id: &str, closes_at: u64, version: u64) -> impl Future<Output = Result<()>> + Send;

    /// Removes poll `poll_id`'s schedules set by versions older than `version`; how many.
    fn cancel_older(&self, poll_id: &str, version: u64) -> impl Future<Output = Result<usize>> + Send;
}

/// Where committed changes are announced (the events queue).
pub trait Announce: Send + Sync {
    /// Publishes `event`; consumers de-duplicate on its id, so publishing again is safe.
    fn publish(&self, event: &Event) -> impl Future<Output = Result<()>> + Send;
}
