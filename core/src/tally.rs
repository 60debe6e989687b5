//! Counting from the table's stream: the tally folds each batch of ballot writes into
//! one conditional update per tally item, exactly once.
//!
//! **Items.** A poll's counts live in [`BUCKETS`] items, one per bucket of stream shards
//! ([`bucket_of`]): results sum them. Its hourly statistics live in one item per (hour,
//! bucket). Each item keeps, per stream shard that wrote it, a [`Watermark`]: the
//! sequence number of the last record folded into it.
//!
//! **Invariant.** A record is folded into an item iff its sequence number is above the
//! item's watermark for the record's shard, and the watermark moves to the last record
//! folded in the same conditional write as the counts (conditional on the watermark
//! read). Records of one shard arrive in order and one batch at a time
//! (`ParallelizationFactor: 1`), so:
//! - a batch delivered twice, a retry from a failed record, a bisected batch and a
//!   duplicated record bring only records at or below the watermark again: skipped;
//! - a tally killed mid-batch left each item either updated (watermark moved) or not;
//!   the retry folds exactly what is missing;
//! - a write still in flight from a timed-out invocation moves the watermark first: the
//!   conditional write fails, the item is read again and only what is left is folded;
//! - a new shard after a rollover has no watermark yet: its records fold from the start.
//!
//! The tally never advances a watermark past a record it did not fold: records from the
//! first one it could not read onwards are left to the retry ([`Batch::failed_from`]).
//!
//! The use case over the items is [`crate::tallying::tally`]. **Which ballots count** is
//! [`crate::counting`]'s rule, applied to each write's own
//! time, so a recount of the ballots alone reproduces every count.

use std::collections::BTreeMap;

use std::collections::HashMap;

use crate::counting::Openings;

/// Buckets of stream shards per poll: how many count items results sum.
pub const BUCKETS: u32 = 4;

/// How long a shard's watermark is kept after its last write: longer than a stream keeps
/// records (24 h), so a pruned watermark can never be needed again.
pub const WATERMARK_RETENTION_SECS: u64 = 25 * 3600;

/// A stream record's sequence number, zero-padded to 40 digits so that string order is
/// numeric order (they have 21 to 40 digits: more than a `u64` or a DynamoDB number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(String);

impl Seq {
    pub const DIGITS: usize = 40;

    /// The sequence number `text`, if it is 1 to 40 decimal digits.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = !text.is_empty() && text.len() <= Self::DIGITS && text.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| Self(format!("{text:0>40}")))
    }

    /// The padded form, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a shard stands in an item: the last record folded, and when (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub seq: Seq,
    pub at: u64,
}

/// The bucket of the items stream shard `shard` writes: the first 4 bytes of
/// SHA-256(shard id), big-endian, mod [`BUCKETS`].
pub fn bucket_of(shard: &str) -> u32 {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, shard.as_bytes());
    let first: [u8; 4] = digest.as_ref()[..4].try_into().expect("SHA-256 has 32 bytes");
    u32::from_be_bytes(first) % BUCKETS
}

/// One version of a ballot as a stream image shows it: its picks and when they were
/// written (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picks {
    pub option_ids: Vec<String>,
    pub at_ms: u64,
}

/// A ballot write from the stream: the ballot before (`None`: it is new) and after
/// (`None`: it was removed, as a purge does), whose ballot it is and its version after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallotWrite {
    pub seq: Seq,
    pub poll_id: String,
    pub voter: String,
    pub version: u64,
    pub old: Option<Picks>,
    pub new: Option<Picks>,
}

/// A write of a poll item from the stream that others must hear of: it closed the poll
/// (`PollClosed`) or left its tombstone (`PollDeleted`). `poll` is the poll after it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollChange {
    pub seq: Seq,
    pub kind: crate::events::EventKind,
    pub poll: crate::polls::Poll,
}

/// Which tally item of a poll: its counts, or an hour of its statistics (`yyyy-mm-ddThh`),
/// in a bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    Counts { poll_id: String, bucket: u32 },
    Hour { poll_id: String, hour: String, bucket: u32 },
}

impl Item {
    pub fn poll_id(&self) -> &str {
        match self {
            Self::Counts { poll_id, .. } | Self::Hour { poll_id, .. } => poll_id,
        }
    }
}

/// What a fold adds to one item: a signed change per counter (`total`, `o_<option id>`,
/// `votes_cast`, `votes_changed`), up to the last record folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub counters: BTreeMap<String, i64>,
    pub last: Seq,
}

/// The counter of option `id` in a counts item.
pub fn option_counter(id: &str) -> String {
    format!("o_{id}")
}

fn add(counters: &mut BTreeMap<String, i64>, name: String, by: i64) {
    *counters.entry(name).or_default() += by;
}

/// The hour of `at_ms`, as statistics items name it.
pub fn hour_of(at_ms: u64) -> String {
    let at =
        time::OffsetDateTime::from_unix_timestamp((at_ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}T{:02}", at.year(), u8::from(at.month()), at.day(), at.hour())
}

/// One batch of a stream shard, as the tally gets it.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub shard: String,
    /// The ballot writes, in stream order.
    pub writes: Vec<BallotWrite>,
    /// The closings and deletions of polls, in stream order.
    pub changes: Vec<PollChange>,
    /// The first record the tally could not read, if any: nothing from it on is folded,
    /// and the batch reports it as failed so the stream retries from there.
    pub failed_from: Option<Seq>,
}

/// The steps of one item: each write's sequence number and what it changes.
pub type Steps = Vec<(Seq, BTreeMap<String, i64>)>;

/// Sorts `writes` of one shard, up to `failed_from`, into the steps of the items of
/// `bucket`, by the rule of `openings` (per poll). Writes of polls `openings` does not
/// know (deleted) are skipped.
pub fn fold<'a>(
    writes: impl IntoIterator<Item = &'a BallotWrite>,
    bucket: u32,
    failed_from: Option<&Seq>,
    openings: &HashMap<String, Openings>,
) -> BTreeMap<Item, Steps> {
    let mut steps: BTreeMap<Item, Steps> = BTreeMap::new();
    for write in writes {
        if failed_from.is_some_and(|failed| write.seq >= *failed) {
            break;
        }
        let Some(openings) = openings.get(&write.poll_id) else { continue };
        let counted = |picks: Option<&'a Picks>| picks.filter(|p| openings.counts_at(p.at_ms));
        let (old, new) = (counted(write.old.as_ref()), counted(write.new.as_ref()));
        let mut counts = BTreeMap::new();
        if let Some(old) = old {
            add(&mut counts, "total".into(), -1);
            old.option_ids.iter().for_each(|id| add(&mut counts, option_counter(id), -1));
        }
        if let Some(new) = new {
            add(&mut counts, "total".into(), 1);
            new.option_ids.iter().for_each(|id| add(&mut counts, option_counter(id), 1));
        }
        counts.retain(|_, by| *by != 0);
        let poll_id = write.poll_id.clone();
        steps.entry(Item::Counts { poll_id: poll_id.clone(), bucket }).or_default().push((write.seq.clone(), counts));
        // Statistics: a counted new ballot is a vote cast in its hour, a counted change
        // of picks a vote changed.
        if let Some(new) = new {
            let changed = write.old.as_ref().is_some_and(|old| !same_picks(&old.option_ids, &new.option_ids));
            let name = match (&write.old, changed) {
                (None, _) => Some("votes_cast"),
                (Some(_), true) => Some("votes_changed"),
                (Some(_), false) => None,
            };
            if let Some(name) = name {
                let hour = Item::Hour { poll_id, hour: hour_of(new.at_ms), bucket };
                steps.entry(hour).or_default().push((write.seq.clone(), BTreeMap::from([(name.to_owned(), 1)])));
            }
        }
    }
    steps
}

fn same_picks(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// The delta of the steps above `above`, if any step is.
pub fn delta_above(steps: &[(Seq, BTreeMap<String, i64>)], above: Option<&Seq>) -> Option<Delta> {
    let mut counters = BTreeMap::new();
    let mut last = None;
    for (seq, counts) in steps.iter().filter(|(seq, _)| above.is_none_or(|w| seq > w)) {
        for (name, by) in counts {
            add(&mut counters, name.clone(), *by);
        }
        last = Some(seq.clone());
    }
    counters.retain(|_, by| *by != 0);
    last.map(|last| Delta { counters, last })
}

/// The shards whose watermarks in an item may go: not written for
/// [`WATERMARK_RETENTION_SECS`], and not `shard`.
pub fn stale_shards<'a>(watermarks: &'a BTreeMap<String, Watermark>, shard: &str, now: u64) -> Vec<&'a str> {
    watermarks
        .iter()
        .filter(|(id, mark)| id.as_str() != shard && mark.at + WATERMARK_RETENTION_SECS < now)
        .map(|(id, _)| id.as_str())
        .collect()
}
