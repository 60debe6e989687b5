//! Ballots as values: one per voter per poll, and the voter's partition.

use serde::{Deserialize, Serialize};

/// Partition keys of a poll's ballots: a voter's ballot lives in partition
/// [`partition_of`]. One partition key takes 1,000 write units/s and a ballot write
/// costs 1, so a poll takes 128,000 ballots/s before a key is the limit (and hashing
/// spreads voters within a few percent of evenly at that scale).
pub const BALLOT_PARTITIONS: u32 = 128;

/// A voter's ballot, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    pub poll_id: String,
    pub option_ids: Vec<String>,
    /// When these picks were cast (the latest change), RFC 3339 with milliseconds: the
    /// instant the counting rule judges ([`crate::counting`]).
    pub cast_at: String,
}

impl Ballot {
    /// What [`crate::counting::recount`] judges: the picks and `cast_at`.
    pub fn as_counted(&self) -> (&[String], &str) {
        (&self.option_ids, &self.cast_at)
    }

    /// Whether `picks` are this ballot's picks, in any order.
    pub fn has_picks(&self, picks: &[String]) -> bool {
        self.option_ids.len() == picks.len() && picks.iter().all(|p| self.option_ids.contains(p))
    }
}

/// A ballot as stored, with its version: 1 for the first cast, +1 per change (a change
/// writes only on the version it read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBallot {
    pub ballot: Ballot,
    pub version: u64,
}

/// What casting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastKind {
    /// A first ballot (201).
    New,
    /// Other picks than the voter's ballot had (200).
    Changed,
    /// The same picks as the voter's ballot: nothing written (200).
    Same,
}

/// A ballot after a cast.
#[derive(Debug, Clone)]
pub struct Cast {
    pub kind: CastKind,
    pub ballot: Ballot,
}

/// Who is voting and how the poll's rules apply to them.
#[derive(Debug, Clone, Copy)]
pub struct Voter<'a> {
    pub sub: &'a str,
    pub guest: bool,
    /// The account's email is verified (never for a guest).
    pub verified: bool,
}

/// Voter `voter`'s partition of a poll's ballots: the first 4 bytes of SHA-256(voter),
/// big-endian, mod [`BALLOT_PARTITIONS`].
pub fn partition_of(voter: &str) -> u32 {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, voter.as_bytes());
    let first: [u8; 4] = digest.as_ref()[..4].try_into().expect("SHA-256 has 32 bytes");
    u32::from_be_bytes(first) % BALLOT_PARTITIONS
}
