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

use ballot_core::{
    Error,
    ballots::{Ballot, SHARDS, StoredBallot, Voter, shard_of},
    polls::{Poll, StoredPoll},
    ports::Recorded,
};

use super::{
    Store, condition_failed,
    polls::{POLL, option_attribute, poll_pk, shard_pk},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BallotItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    ballot: Ballot,
    /// 1 for the first cast, +1 per change: the event id of each is derived from it.
    version: u64,
}

/// The ballot write a stream record shows, from its images (`old`, `new`: empty when the
/// record has none); `None` when the record is not of a ballot item. A ballot whose image
/// cannot be read is an error: the tally must not skip it.
pub fn ballot_write(
    seq: ballot_core::tally::Seq,
    old: &serde_dynamo::Item,
    new: &serde_dynamo::Item,
) -> Option<Result<ballot_core::tally::BallotWrite, Error>> {
    let image = if new.is_empty() { old } else { new };
    let pk = image.get("pk").and_then(|pk| match pk {
        serde_dynamo::AttributeValue::S(pk) => Some(pk.as_str()),
        _ => None,
    })?;
    let poll_id = pk.strip_prefix("POLL#")?.split_once("#BALLOTS#")?.0.to_owned();
    let picks = |image: &serde_dynamo::Item| -> Result<Option<ballot_core::tally::Picks>, Error> {
        if image.is_empty() {
            return Ok(None);
        }
        let item: BallotItem = serde_dynamo::from_item(image.clone()).map_err(Error::internal)?;
        let (_, at) = ballot_core::polls::parse_instant(&item.ballot.cast_at)
            .ok_or_else(|| Error::internal("a ballot's cast_at is not a time"))?;
        Ok(Some(ballot_core::tally::Picks { option_ids: item.ballot.option_ids, at_ms: at * 1000 }))
    };
    Some((|| Ok(ballot_core::tally::BallotWrite { seq, poll_id, old: picks(old)?, new: picks(new)? }))())
}

/// Shard `n`'s partition of a poll's ballots.
fn ballots_pk(poll_id: &str, n: u32) -> String {
    format!("POLL#{poll_id}#BALLOTS#{n}")
}

fn ballot_pk(poll_id: &str, voter: &str) -> String {
    ballots_pk(poll_id, shard_of(voter))
}

impl Store {
    /// The transaction of a new ballot, in order: (0) the ballot, if the voter has none;
    /// (1) the count on the voter's shard, if its rules accept the vote; (2) until voting
    /// started, the poll's `voting_started` mark. Public so `make bench` can cost it.
    pub fn new_ballot_writes(
        &self,
        stored: &StoredPoll,
        voter: Voter<'_>,
        ballot: &Ballot,
        now: u64,
    ) -> Result<Vec<TransactWriteItem>, Error> {
        let poll_id = &stored.poll.id;
        let item = BallotItem {
            pk: ballot_pk(poll_id, voter.sub),
            sk: voter.sub.to_owned(),
            ballot: ballot.clone(),
            version: 1,
        };
        let mut writes = vec![self.put_new(&item)?, self.count(poll_id, voter, &[], &ballot.option_ids, now, false)?];
        if !stored.voting_started {
            writes.push(self.start_voting(stored)?);
        }
        Ok(writes)
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
    ) -> Result<TransactWriteItem, Error> {
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
        Ok(TransactWriteItem::builder().update(update.build().map_err(Error::internal)?).build())
    }

    /// Marks the poll `voting_started`, if it is still the version that was read.
    fn start_voting(&self, stored: &StoredPoll) -> Result<TransactWriteItem, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(poll_pk(&stored.poll.id), POLL)))
            .update_expression("SET voting_started = :true")
            .condition_expression("poll.version = :version AND deleted = :false")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":version", AttributeValue::N(stored.poll.version.to_string()))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Every ballot of poll `poll_id`, as stored (a recount reads them all).
    pub async fn ballots_of(&self, poll_id: &str) -> Result<Vec<Ballot>, Error> {
        let mut ballots = Vec::new();
        for n in 0..SHARDS {
            let query =
                super::Query { index: None, key: "pk", value: ballots_pk(poll_id, n), limit: None, descending: false };
            let items: Vec<BallotItem> = self.query_all(&query).await?;
            ballots.extend(items.into_iter().map(|item| item.ballot));
        }
        Ok(ballots)
    }

    /// Deletes everything of a deleted poll: ballots, counter shards, statistics, tally items, webhooks,
    /// the record of its last closing, then its tombstone, a page at a time. Safe to run
    /// again after a crash at any point. Returns how many items it deleted.
    pub async fn purge_poll(&self, poll_id: &str) -> Result<usize, Error> {
        if self.poll(poll_id, true).await?.is_some() {
            return Err(Error::Conflict("The poll is not deleted.".into()));
        }
        let mut deleted = 0;
        let mut partitions: Vec<String> = (0..SHARDS).map(|n| ballots_pk(poll_id, n)).collect();
        partitions.push(super::stats::stats_pk(poll_id));
        partitions.push(super::webhooks::webhooks_pk(poll_id));
        partitions.push(super::webhooks::count_pk(poll_id));
        partitions.push(super::tally::tally_pk(poll_id));
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
    async fn delete_partition(&self, pk: &str) -> Result<usize, Error> {
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
    async fn delete_keys(&self, keys: Vec<HashMap<String, AttributeValue>>) -> Result<(), Error> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    let delete =
                        DeleteRequest::builder().set_key(Some(key.clone())).build().map_err(Error::internal)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, Error>>()?;
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
                    .map_err(Error::internal)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(Error::Unavailable("The table is busy; the purge will be retried.".into()));
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

/// Ballots on DynamoDB: each write is one transaction of the ballot and its shard's
/// count (see the module), so a ballot is written and counted together or not at all.
impl ballot_core::ports::Ballots for Store {
    async fn ballot(&self, poll_id: &str, voter: &str) -> Result<Option<StoredBallot>, Error> {
        let item = self.get::<BallotItem>(ballot_pk(poll_id, voter), voter).await?;
        Ok(item.map(|item| StoredBallot { ballot: item.ballot, version: item.version }))
    }

    async fn record_new(
        &self,
        poll: &StoredPoll,
        voter: Voter<'_>,
        ballot: &Ballot,
        now: u64,
    ) -> Result<Recorded, Error> {
        let writes = self.new_ballot_writes(poll, voter, ballot, now)?;
        let sent = self.db.transact_write_items().set_transact_items(Some(writes)).send().await;
        Ok(match sent {
            Ok(_) => Recorded::Done,
            Err(err) if failed_step(&err, 0) => Recorded::Exists,
            Err(err) if failed_step(&err, 1) => Recorded::Refused,
            Err(err) if condition_failed(&err) => Recorded::Raced,
            Err(err) => return Err(Error::internal(err)),
        })
    }

    async fn record_change(
        &self,
        poll: &Poll,
        voter: Voter<'_>,
        current: &StoredBallot,
        ballot: &Ballot,
        now: u64,
    ) -> Result<Recorded, Error> {
        let version = current.version + 1;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(ballot_pk(&poll.id, voter.sub), voter.sub)))
            .update_expression("SET option_ids = :picks, cast_at = :cast_at, version = :version")
            .condition_expression("version = :current")
            .expression_attribute_values(
                ":picks",
                serde_dynamo::to_attribute_value(&ballot.option_ids).map_err(Error::internal)?,
            )
            .expression_attribute_values(":cast_at", AttributeValue::S(ballot.cast_at.clone()))
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":current", AttributeValue::N(current.version.to_string()))
            .build()
            .map_err(Error::internal)?;
        let sent = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.count(&poll.id, voter, &current.ballot.option_ids, &ballot.option_ids, now, true)?)
            .send()
            .await;
        Ok(match sent {
            Ok(_) => Recorded::Done,
            Err(err) if failed_step(&err, 1) => Recorded::Refused,
            Err(err) if condition_failed(&err) => Recorded::Raced,
            Err(err) => return Err(Error::internal(err)),
        })
    }
}
