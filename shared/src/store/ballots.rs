//! Ballots: one per voter per poll, each one write.
//!
//! Key: `POLL#<id>#BALLOTS#<n>` / `<voter sub>`, where n = hash(voter) mod
//! [`BALLOT_PARTITIONS`]. A new ballot is one `PutItem`, only if the voter has none (a
//! retry, a duplicate or a concurrent second vote of the same voter finds the ballot,
//! returned by the failed condition, and writes nothing); a change is one `UpdateItem`,
//! only on the version read. The tally counts them from the table's stream
//! ([`super::tally`]); the vote path has checked the poll's rules before writing
//! ([`ballot_core::voting`]).
//!
//! Write units per ballot write: 1 (an item well under 1 KB).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use ballot_core::{
    Error,
    ballots::{BALLOT_PARTITIONS, Ballot, StoredBallot, partition_of},
    ports::Recorded,
};

use super::{
    Store,
    polls::{POLL, poll_pk},
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

impl BallotItem {
    fn stored(self) -> StoredBallot {
        StoredBallot { ballot: self.ballot, version: self.version }
    }
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
    let item = |image: &serde_dynamo::Item| -> Result<Option<BallotItem>, Error> {
        if image.is_empty() {
            return Ok(None);
        }
        serde_dynamo::from_item(image.clone()).map(Some).map_err(Error::internal)
    };
    let picks = |item: &BallotItem| -> Result<ballot_core::tally::Picks, Error> {
        let at_ms = ballot_core::clock::parse_instant_ms(&item.ballot.cast_at)
            .ok_or_else(|| Error::internal("a ballot's cast_at is not a time"))?;
        Ok(ballot_core::tally::Picks { option_ids: item.ballot.option_ids.clone(), at_ms })
    };
    Some((|| {
        let (old, new) = (item(old)?, item(new)?);
        let last = new.as_ref().or(old.as_ref()).ok_or_else(|| Error::internal("a ballot record without images"))?;
        Ok(ballot_core::tally::BallotWrite {
            seq,
            poll_id,
            voter: last.sk.clone(),
            version: last.version,
            old: old.as_ref().map(picks).transpose()?,
            new: new.as_ref().map(picks).transpose()?,
        })
    })())
}

/// Partitions a recount queries at once.
const PARALLEL_QUERIES: usize = 16;

/// Partition `n` of a poll's ballots.
fn ballots_pk(poll_id: &str, n: u32) -> String {
    format!("POLL#{poll_id}#BALLOTS#{n}")
}

fn ballot_pk(poll_id: &str, voter: &str) -> String {
    ballots_pk(poll_id, partition_of(voter))
}

impl Store {
    /// The `PutItem` of `voter`'s first ballot, only if the voter has none (a failed
    /// condition returns the ballot there). Public so `make bench` can price it.
    pub fn new_ballot_put(
        &self,
        voter: &str,
        ballot: &Ballot,
    ) -> Result<aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder, Error> {
        let item = BallotItem {
            pk: ballot_pk(&ballot.poll_id, voter),
            sk: voter.to_owned(),
            ballot: ballot.clone(),
            version: 1,
        };
        Ok(self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(&item).map_err(Error::internal)?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld))
    }

    /// Every ballot of poll `poll_id`, as stored (a recount reads them all), its
    /// partitions [`PARALLEL_QUERIES`] at a time.
    pub async fn ballots_of(&self, poll_id: &str) -> Result<Vec<Ballot>, Error> {
        use futures_util::{StreamExt, TryStreamExt};
        let partitions = futures_util::stream::iter(0..BALLOT_PARTITIONS).map(|n| async move {
            let query =
                super::Query { index: None, key: "pk", value: ballots_pk(poll_id, n), limit: None, descending: false };
            self.query_all::<BallotItem>(&query).await
        });
        let pages: Vec<Vec<BallotItem>> = partitions.buffer_unordered(PARALLEL_QUERIES).try_collect().await?;
        Ok(pages.into_iter().flatten().map(|item| item.ballot).collect())
    }

    /// Deletes everything of a deleted poll: ballots, tally items (counts, statistics),
    /// webhooks, then its tombstone, a page at a time (live watchers are ended by the
    /// poll's final push, and expire). Safe to run
    /// again after a crash at any point. Returns how many items it deleted.
    pub async fn purge_poll(&self, poll_id: &str) -> Result<usize, Error> {
        if self.poll(poll_id, true).await?.is_some() {
            return Err(Error::Conflict("The poll is not deleted.".into()));
        }
        let mut deleted = 0;
        let mut partitions: Vec<String> = (0..BALLOT_PARTITIONS).map(|n| ballots_pk(poll_id, n)).collect();
        partitions.push(super::webhooks::webhooks_pk(poll_id));
        partitions.push(super::webhooks::count_pk(poll_id));
        partitions.push(super::tally::tally_pk(poll_id));
        for pk in partitions {
            deleted += self.delete_partition(&pk).await?;
        }
        let keys = vec![Self::key(poll_pk(poll_id), POLL)];
        deleted += keys.len();
        self.delete_keys(keys).await?;
        Ok(deleted)
    }

    /// Deletes the ballots of `voters` on poll `poll_id`, one `DeleteItem` each (few, and
    /// the tally that calls this may delete, never put).
    pub(super) async fn remove_ballots(&self, poll_id: &str, voters: &[&str]) -> Result<(), Error> {
        for voter in voters {
            let key = Self::key(ballot_pk(poll_id, voter), voter);
            let delete = self.db.delete_item().table_name(&self.table).set_key(Some(key));
            delete.send().await.map_err(Error::internal)?;
        }
        Ok(())
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

/// Ballots on DynamoDB: each write is one conditional write of the ballot item (see the
/// module); the tally counts it from the stream.
impl ballot_core::ports::Ballots for Store {
    async fn ballot(&self, poll_id: &str, voter: &str) -> Result<Option<StoredBallot>, Error> {
        let item = self.get::<BallotItem>(ballot_pk(poll_id, voter), voter).await?;
        Ok(item.map(BallotItem::stored))
    }

    async fn record_new(&self, voter: &str, ballot: &Ballot) -> Result<Recorded, Error> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let sent = self.new_ballot_put(voter, ballot)?.send().await;
        let err = match sent {
            Ok(_) => return Ok(Recorded::Done),
            Err(err) => err,
        };
        let Some(PutItemError::ConditionalCheckFailedException(failed)) = err.as_service_error() else {
            return Err(Error::internal(err));
        };
        let item = failed.item().cloned().ok_or_else(|| Error::internal("a failed ballot put returned no ballot"))?;
        let item: BallotItem = serde_dynamo::from_item(item).map_err(Error::internal)?;
        Ok(Recorded::Exists(item.stored()))
    }

    async fn record_change(&self, voter: &str, current: &StoredBallot, ballot: &Ballot) -> Result<bool, Error> {
        let sent = self
            .update_item(ballot_pk(&ballot.poll_id, voter), voter)
            .update_expression("SET option_ids = :picks, cast_at = :cast_at, version = :version")
            .condition_expression("version = :current")
            .expression_attribute_values(
                ":picks",
                serde_dynamo::to_attribute_value(&ballot.option_ids).map_err(Error::internal)?,
            )
            .expression_attribute_values(":cast_at", AttributeValue::S(ballot.cast_at.clone()))
            .expression_attribute_values(":version", AttributeValue::N((current.version + 1).to_string()))
            .expression_attribute_values(":current", AttributeValue::N(current.version.to_string()))
            .send()
            .await;
        Ok(super::condition_held(sent)?.is_some())
    }
}
