//! Ballots: one per voter per poll, counted exactly once.
//!
//! Key: `POLL#<id>#BALLOTS#<n>` / `<voter sub>`, where n = hash(voter) mod
//! [`SHARDS`] is also the voter's counter shard. A new ballot is one transaction of
//! (1) the ballot, written only if the voter has none, and (2) `ADD` of 1 to `total` and
//! to each picked option on the voter's shard, written only if the shard's rules accept
//! the vote (open, before `closes_at`, guests, changes). Both happen or neither: a retry,
//! a duplicate or a concurrent second vote of the same voter finds the ballot and counts
//! nothing. A change is one transaction of the ballot's update (conditional on the
//! version read) and the shard's net `ADD` (-1 for dropped options, +1 for added ones).
//! The first ballots also mark the poll `voting_started` (conditional on its version),
//! which freezes its options; after that, votes never write the poll item.
//!
//! Write units per new ballot: 2 (ballot) + 2 (shard), both transactional writes of items
//! under 1 KB; plus 2 for the poll item while `voting_started` is not yet set.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};

use super::{
    Store, condition_failed,
    polls::{POLL, SHARDS, StoredPoll, option_attribute, poll_pk, shard_pk},
};
use crate::{ApiError, polls::Poll};

/// A voter's ballot, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    pub poll_id: String,
    pub option_ids: Vec<String>,
    /// When these picks were cast (the latest change), RFC 3339.
    pub cast_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BallotItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    ballot: Ballot,
    /// 1 for the first cast, +1 per change: the event id of each is derived from it.
    version: u64,
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

/// A ballot after a cast, and the id of the event that announces its current version.
#[derive(Debug, Clone)]
pub struct Cast {
    pub kind: CastKind,
    pub ballot: Ballot,
    pub event_id: String,
}

/// Voter `voter`'s shard of a poll's counters and ballots: the first 4 bytes of
/// SHA-256(voter), big-endian, mod [`SHARDS`].
pub fn shard_of(voter: &str) -> u32 {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, voter.as_bytes());
    let first: [u8; 4] = digest.as_ref()[..4].try_into().expect("SHA-256 has 32 bytes");
    u32::from_be_bytes(first) % SHARDS
}

/// Shard `n`'s partition of a poll's ballots.
fn ballots_pk(poll_id: &str, n: u32) -> String {
    format!("POLL#{poll_id}#BALLOTS#{n}")
}

fn ballot_pk(poll_id: &str, voter: &str) -> String {
    ballots_pk(poll_id, shard_of(voter))
}

/// The stable id of the event for `version` of `voter`'s ballot on `poll_id`.
pub fn ballot_event_id(poll_id: &str, voter: &str, version: u64) -> String {
    crate::events::stable_id(&format!("ballot\n{poll_id}\n{voter}\n{version}"))
}

/// Who is voting and how the poll's rules apply to them.
#[derive(Debug, Clone, Copy)]
pub struct Voter<'a> {
    pub sub: &'a str,
    pub guest: bool,
}

impl Store {
    /// Casts `voter`'s ballot on poll `poll_id`: `check` turns the requested picks into
    /// valid ones for the poll as read (or refuses them). Retries on races with other
    /// writers; see the module for what makes it exactly-once.
    pub async fn cast_ballot(
        &self,
        poll_id: &str,
        voter: Voter<'_>,
        now: u64,
        check: impl Fn(&Poll) -> Result<Vec<String>, ApiError>,
    ) -> Result<Cast, ApiError> {
        for attempt in 0..8u64 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
            }
            // The first read may be stale by a moment: every condition below is checked
            // against the current items, and a failed one reads again, consistently.
            let stored = self.poll(poll_id, attempt > 0).await?.ok_or(ApiError::NotFound)?;
            let poll = stored.poll.clone().effective(now);
            if let Some(refusal) = poll.refuses_vote(voter.guest, false) {
                return Err(refusal);
            }
            let picks = check(&poll)?;
            let (ballot, writes) = self.new_ballot_writes(&stored, voter, &picks, now)?;
            match self.db.transact_write_items().set_transact_items(Some(writes)).send().await {
                Ok(_) => {
                    let event_id = ballot_event_id(poll_id, voter.sub, 1);
                    return Ok(Cast { kind: CastKind::New, ballot, event_id });
                }
                Err(err) if failed_step(&err, 0) => match self.change_ballot(&poll, voter, &picks, now).await? {
                    Some(cast) => return Ok(cast),
                    None => continue,
                },
                Err(err) if failed_step(&err, 1) => self.explain_refusal(poll_id, voter, false, now).await?,
                Err(err) if condition_failed(&err) => continue,
                Err(err) => return Err(ApiError::internal(err)),
            }
        }
        Err(ApiError::Conflict("Too many concurrent changes to this ballot; retry.".into()))
    }

    /// The transaction of a new ballot, in order: (0) the ballot, if the voter has none;
    /// (1) the count on the voter's shard, if its rules accept the vote; (2) until voting
    /// started, the poll's `voting_started` mark. Public so `make bench` can cost it.
    pub fn new_ballot_writes(
        &self,
        stored: &StoredPoll,
        voter: Voter<'_>,
        picks: &[String],
        now: u64,
    ) -> Result<(Ballot, Vec<TransactWriteItem>), ApiError> {
        let poll_id = &stored.poll.id;
        let ballot =
            Ballot { poll_id: poll_id.clone(), option_ids: picks.to_vec(), cast_at: crate::clock::rfc3339_now() };
        let item = BallotItem { pk: ballot_pk(poll_id, voter.sub), sk: voter.sub.to_owned(), ballot, version: 1 };
        let mut writes = vec![self.put_new(&item)?, self.count(poll_id, voter, &[], picks, now, false)?];
        if !stored.voting_started {
            writes.push(self.start_voting(stored)?);
        }
        Ok((item.ballot, writes))
    }

    /// Replaces the voter's existing ballot with `picks`; `None` when it changed under us.
    async fn change_ballot(
        &self,
        poll: &Poll,
        voter: Voter<'_>,
        picks: &[String],
        now: u64,
    ) -> Result<Option<Cast>, ApiError> {
        let Some(current) = self.get::<BallotItem>(ballot_pk(&poll.id, voter.sub), voter.sub).await? else {
            return Ok(None);
        };
        let same = current.ballot.option_ids.len() == picks.len()
            && picks.iter().all(|p| current.ballot.option_ids.contains(p));
        if same {
            let event_id = ballot_event_id(&poll.id, voter.sub, current.version);
            return Ok(Some(Cast { kind: CastKind::Same, ballot: current.ballot, event_id }));
        }
        if let Some(refusal) = poll.refuses_vote(voter.guest, true) {
            return Err(refusal);
        }
        let ballot =
            Ballot { poll_id: poll.id.clone(), option_ids: picks.to_vec(), cast_at: crate::clock::rfc3339_now() };
        let version = current.version + 1;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(current.pk.clone(), voter.sub)))
            .update_expression("SET option_ids = :picks, cast_at = :cast_at, version = :version")
            .condition_expression("version = :current")
            .expression_attribute_values(":picks", serde_dynamo::to_attribute_value(picks).map_err(ApiError::internal)?)
            .expression_attribute_values(":cast_at", AttributeValue::S(ballot.cast_at.clone()))
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":current", AttributeValue::N(current.version.to_string()))
            .build()
            .map_err(ApiError::internal)?;
        let result = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.count(&poll.id, voter, &current.ballot.option_ids, picks, now, true)?)
            .send()
            .await;
        match result {
            Ok(_) => {
                let event_id = ballot_event_id(&poll.id, voter.sub, version);
                Ok(Some(Cast { kind: CastKind::Changed, ballot, event_id }))
            }
            Err(err) if failed_step(&err, 1) => {
                self.explain_refusal(&poll.id, voter, true, now).await?;
                Ok(None)
            }
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(ApiError::internal(err)),
        }
    }

    /// The shard update of a cast: -1 for each dropped option, +1 for each added one, +1
    /// ballot when `dropped` is empty (a new ballot); only if the shard's rules accept it.
    fn count(
        &self,
        poll_id: &str,
        voter: Voter<'_>,
        dropped: &[String],
        added: &[String],
        now: u64,
        changing: bool,
    ) -> Result<TransactWriteItem, ApiError> {
        let mut terms = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(shard_pk(poll_id, shard_of(voter.sub)), "COUNT")))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()));
        if dropped.is_empty() {
            terms.push("#total :one".to_owned());
            update = update.expression_attribute_names("#total", "total");
        }
        for (i, option) in dropped.iter().filter(|o| !added.contains(o)).enumerate() {
            terms.push(format!("#d{i} :minus"));
            update = update.expression_attribute_names(format!("#d{i}"), option_attribute(option));
        }
        for (i, option) in added.iter().filter(|o| !dropped.contains(o)).enumerate() {
            terms.push(format!("#a{i} :one"));
            update = update.expression_attribute_names(format!("#a{i}"), option_attribute(option));
        }
        let mut condition = "closed = :false AND (closes_at = :zero OR closes_at > :now)".to_owned();
        if voter.guest {
            condition.push_str(" AND allow_guests = :true");
        }
        if changing {
            condition.push_str(" AND allow_vote_change = :true");
        }
        let update = update
            .update_expression(format!("ADD {}", terms.join(", ")))
            .condition_expression(condition)
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
        let update = if voter.guest || changing {
            update.expression_attribute_values(":true", AttributeValue::Bool(true))
        } else {
            update
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(ApiError::internal)?).build())
    }

    /// Marks the poll `voting_started`, if it is still the version that was read.
    fn start_voting(&self, stored: &StoredPoll) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(poll_pk(&stored.poll.id), POLL)))
            .update_expression("SET voting_started = :true")
            .condition_expression("poll.version = :version AND deleted = :false")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":version", AttributeValue::N(stored.poll.version.to_string()))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A shard refused a vote: the poll's rules changed since it was read. Returns the
    /// refusal, or `Ok` when the current rules accept it after all (then retry).
    async fn explain_refusal(&self, poll_id: &str, voter: Voter<'_>, changing: bool, now: u64) -> Result<(), ApiError> {
        let stored = self.poll(poll_id, true).await?.ok_or(ApiError::NotFound)?;
        match stored.poll.effective(now).refuses_vote(voter.guest, changing) {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }

    /// The voter's ballot on poll `poll_id`.
    pub async fn ballot(&self, poll_id: &str, voter: &str) -> Result<Option<Ballot>, ApiError> {
        Ok(self.get::<BallotItem>(ballot_pk(poll_id, voter), voter).await?.map(|item| item.ballot))
    }

    /// Deletes everything of a deleted poll: ballots, counter shards, statistics, webhooks,
    /// the record of its last closing, then its tombstone, a page at a time. Safe to run
    /// again after a crash at any point. Returns how many items it deleted.
    pub async fn purge_poll(&self, poll_id: &str) -> Result<usize, ApiError> {
        if self.poll(poll_id, true).await?.is_some() {
            return Err(ApiError::Conflict("The poll is not deleted.".into()));
        }
        let mut deleted = 0;
        let mut partitions: Vec<String> = (0..SHARDS).map(|n| ballots_pk(poll_id, n)).collect();
        partitions.push(super::stats::stats_pk(poll_id));
        partitions.push(super::webhooks::webhooks_pk(poll_id));
        partitions.push(super::webhooks::count_pk(poll_id));
        for pk in partitions {
            deleted += self.delete_partition(&pk).await?;
        }
        let mut keys: Vec<_> = (0..SHARDS).map(|n| Self::key(shard_pk(poll_id, n), "COUNT")).collect();
        keys.push(Self::key(poll_pk(poll_id), super::polls::CLOSED));
        keys.push(Self::key(poll_pk(poll_id), POLL));
        deleted += keys.len();
        self.delete_keys(keys).await?;
        Ok(deleted)
    }

    /// Deletes every item under partition key `pk`, 25 at a time.
    async fn delete_partition(&self, pk: &str) -> Result<usize, ApiError> {
        #[derive(Deserialize)]
        struct Key {
            pk: String,
            sk: String,
        }
        let query = super::Query { index: None, key: "pk", value: pk.to_owned(), limit: Some(25), descending: false };
        let mut deleted = 0;
        loop {
            // Always the first page: the previous one is deleted.
            let page = self.query_page::<Key>(&query, None).await?;
            if page.items.is_empty() {
                return Ok(deleted);
            }
            deleted += page.items.len();
            self.delete_keys(page.items.into_iter().map(|k| Self::key(k.pk, &k.sk)).collect()).await?;
        }
    }

    /// Deletes up to 25 items per request, retrying what DynamoDB leaves unprocessed.
    async fn delete_keys(&self, keys: Vec<HashMap<String, AttributeValue>>) -> Result<(), ApiError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    let delete =
                        DeleteRequest::builder().set_key(Some(key.clone())).build().map_err(ApiError::internal)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, ApiError>>()?;
            for attempt in 0..6u64 {
                if requests.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                let out = self
                    .db
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(ApiError::internal)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(ApiError::Unavailable("The table is busy; the purge will be retried.".into()));
            }
        }
        Ok(())
    }
}

/// Whether step `index` of a cancelled transaction failed its condition.
fn failed_step(err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>, index: usize) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
        }
        _ => false,
    }
}
