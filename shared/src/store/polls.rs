//! Polls and their counter shards.
//!
//! Keys:
//! - `POLL#<id>` / `POLL` — the poll ([`PollItem`]): `gsi1pk` `OWNER#<owner>` lists an
//!   owner's polls and `gsi2pk` `PUBLIC` the public feed, both by `<created_at>#<id>`.
//!   A deleted poll keeps a tombstone (`deleted`, no index keys) until the purge removes
//!   it, so it is gone for every reader at once.
//! - `POLL#<id>` / `CLOSED` — how the poll was last closed ([`Closing`]), written by
//!   every write that closes it, in the same transaction.
//! - `POLL#<id>#COUNT#<n>` / `COUNT`, n in 0..[`SHARDS`] — the counter shards: `total`
//!   ballots and `o_<option id>` votes, added to by each ballot of the voters hashed to
//!   that shard ([`super::ballots`]). Each shard also carries the poll's voting rules
//!   (closed, closes_at, allow_guests, allow_vote_change), written in the same
//!   transaction as the poll, so a ballot's condition on its shard decides whether the
//!   vote is accepted without touching the poll item: a hot poll is spread over
//!   [`SHARDS`] partition keys.
//!
//! Invariants: every write to a poll is conditional on the version, `voting_started` and
//! `deleted` it read, so no change is lost; the poll and its shards change together.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::Store;
use ballot_core::{
    Error,
    polls::{Poll, Status, StoredPoll, Visibility},
};

// Counter shards per poll. One partition key takes 1,000 write units/s; a vote costs its
// shard 2 (a transactional write of a small item), so a poll takes about
// `SHARDS × 500` votes/s before its busiest shard is the limit.
pub use ballot_core::ballots::SHARDS;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PollItem {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    gsi2sk: String,
    pub(super) poll: Poll,
    /// A ballot exists (set by the first ballots, see [`super::ballots`]).
    #[serde(default)]
    pub(super) voting_started: bool,
    #[serde(default)]
    deleted: bool,
}

/// The voting rules every shard carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShardItem {
    pk: String,
    sk: String,
    closed: bool,
    /// Epoch seconds; 0 for none.
    closes_at: u64,
    allow_guests: bool,
    allow_vote_change: bool,
}

/// The item of the last closing of a poll (`ballot_core::ports::Closing`): the version it produced and the poll's `closes_at` then.
/// Whoever announces `poll.closed` again (a retry, a repeated close, the schedule of a
/// poll closed by hand) derives the event id from this version, so every announcement of
/// one closing has one id, whatever was changed since.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Closing {
    pk: String,
    sk: String,
    #[serde(default)]
    closes_at: Option<u64>,
    version: u64,
}

pub(super) const POLL: &str = "POLL";
const COUNT: &str = "COUNT";
pub(super) const CLOSED: &str = "CLOSED";

pub(super) fn poll_pk(id: &str) -> String {
    format!("POLL#{id}")
}

pub(super) fn shard_pk(poll_id: &str, shard: u32) -> String {
    format!("POLL#{poll_id}#COUNT#{shard}")
}

/// The attribute of an option's count on a shard.
pub(super) fn option_attribute(option_id: &str) -> String {
    format!("o_{option_id}")
}

impl PollItem {
    fn new(poll: Poll, voting_started: bool, deleted: bool) -> Self {
        let listed = format!("{}#{}", poll.created_at, poll.id);
        Self {
            pk: poll_pk(&poll.id),
            sk: POLL.into(),
            gsi1pk: (!deleted).then(|| format!("OWNER#{}", poll.owner_id)),
            gsi1sk: listed.clone(),
            gsi2pk: (!deleted && poll.visibility == Visibility::Public).then(|| "PUBLIC".into()),
            gsi2sk: listed,
            poll,
            voting_started,
            deleted,
        }
    }
}

/// One page of polls, newest first, and where the next page starts.
#[derive(Debug)]
pub struct PollPage {
    pub polls: Vec<Poll>,
    /// The `LastEvaluatedKey`, to seal in a cursor.
    pub next: Option<serde_json::Value>,
}

/// Which listing to read.
#[derive(Debug, Clone)]
pub enum Listing {
    /// The polls of one owner.
    Owner(String),
    /// Public polls.
    Public,
}

impl Store {
    /// Writes a new poll and its shards in one transaction.
    pub async fn create_poll(&self, poll: &Poll) -> Result<(), Error> {
        let mut request =
            self.db.transact_write_items().transact_items(self.put_new(&PollItem::new(poll.clone(), false, false))?);
        for shard in 0..SHARDS {
            request = request.transact_items(self.put_new(&Self::shard_item(poll, shard, false))?);
        }
        request.send().await.map_err(Error::internal)?;
        Ok(())
    }

    fn shard_item(poll: &Poll, shard: u32, deleted: bool) -> ShardItem {
        ShardItem {
            pk: shard_pk(&poll.id, shard),
            sk: COUNT.into(),
            closed: deleted || poll.status == ballot_core::polls::Status::Closed,
            closes_at: poll.closes_at_epoch().unwrap_or(0),
            allow_guests: poll.allow_guests,
            allow_vote_change: poll.allow_vote_change,
        }
    }

    /// The poll `id` unless it does not exist or is deleted (`consistent`: a strongly
    /// consistent read; else eventually consistent, half the read units).
    pub async fn poll(&self, id: &str, consistent: bool) -> Result<Option<StoredPoll>, Error> {
        let item: Option<PollItem> = self.get_with(poll_pk(id), POLL, consistent).await?;
        Ok(item
            .filter(|item| !item.deleted)
            .map(|item| StoredPoll { poll: item.poll, voting_started: item.voting_started }))
    }

    /// A deleted poll whose purge has not finished yet.
    pub async fn tombstone(&self, id: &str) -> Result<Option<Poll>, Error> {
        let item: Option<PollItem> = self.get(poll_pk(id), POLL).await?;
        Ok(item.filter(|item| item.deleted).map(|item| item.poll))
    }

    /// Sets a shard's voting rules, leaving its counts alone.
    fn shard_rules(&self, shard: &ShardItem) -> Result<TransactWriteItem, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(shard.pk.clone(), COUNT)))
            .update_expression(
                "SET closed = :closed, closes_at = :closes_at, allow_guests = :guests, allow_vote_change = :change",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":closed", AttributeValue::Bool(shard.closed))
            .expression_attribute_values(":closes_at", AttributeValue::N(shard.closes_at.to_string()))
            .expression_attribute_values(":guests", AttributeValue::Bool(shard.allow_guests))
            .expression_attribute_values(":change", AttributeValue::Bool(shard.allow_vote_change))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Polls of a listing, newest first, `limit` at a time, from `start` (a previous page's `next`).
    pub async fn list_polls(
        &self,
        listing: &Listing,
        limit: i32,
        start: Option<serde_json::Value>,
    ) -> Result<PollPage, Error> {
        let (index, key, value) = match listing {
            Listing::Owner(owner) => ("gsi1", "gsi1pk", format!("OWNER#{owner}")),
            Listing::Public => ("gsi2", "gsi2pk", "PUBLIC".to_owned()),
        };
        let query = super::Query { index: Some(index), key, value, limit: Some(limit), descending: true };
        let page = self.query_page::<PollItem>(&query, start).await?;
        Ok(PollPage { polls: page.items.into_iter().map(|item| item.poll).collect(), next: page.next })
    }

    /// Ballots and votes per option of poll `id`, summed over its shards (strongly
    /// consistent, so a voter reads their own vote).
    pub async fn tally(&self, id: &str) -> Result<(u64, HashMap<String, u64>), Error> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let keys: Vec<_> = (0..SHARDS).map(|shard| Self::key(shard_pk(id, shard), COUNT)).collect();
        let mut pending = Some(
            KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().map_err(Error::internal)?,
        );
        let (mut total, mut votes) = (0u64, HashMap::new());
        for attempt in 0..5u64 {
            let Some(request) = pending.take() else { break };
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let out =
                self.db.batch_get_item().request_items(&self.table, request).send().await.map_err(Error::internal)?;
            for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                for (name, value) in item {
                    let n = match value {
                        AttributeValue::N(n) => n.parse::<i64>().unwrap_or(0).max(0) as u64,
                        _ => continue,
                    };
                    if name == "total" {
                        total += n;
                    } else if let Some(option) = name.strip_prefix("o_") {
                        *votes.entry(option.to_owned()).or_insert(0) += n;
                    }
                }
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
        }
        if pending.is_some() {
            return Err(Error::Unavailable("Results are busy; retry shortly.".into()));
        }
        Ok((total, votes))
    }
}

/// Polls on DynamoDB: each write of a poll is one transaction of the poll, its shards'
/// rules and (when it closes the poll) its [`Closing`], conditional on what was read.
impl ballot_core::ports::Polls for Store {
    async fn poll(&self, id: &str, consistent: bool) -> Result<Option<StoredPoll>, Error> {
        Store::poll(self, id, consistent).await
    }

    async fn replace_poll(&self, read: &StoredPoll, next: &Poll, delete: bool) -> Result<bool, Error> {
        let item = PollItem::new(next.clone(), read.voting_started, delete);
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(&item).map_err(Error::internal)?))
            .condition_expression("poll.version = :version AND voting_started = :started AND deleted = :false")
            .expression_attribute_values(":version", AttributeValue::N(read.poll.version.to_string()))
            .expression_attribute_values(":started", AttributeValue::Bool(read.voting_started))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(Error::internal)?;
        let mut steps = vec![TransactWriteItem::builder().put(put).build()];
        for shard in 0..SHARDS {
            steps.push(self.shard_rules(&Self::shard_item(next, shard, delete))?);
        }
        if next.status == Status::Closed && read.poll.status != Status::Closed {
            let pk = poll_pk(&next.id);
            let closing = Closing { pk, sk: CLOSED.into(), closes_at: next.closes_at_epoch(), version: next.version };
            steps.push(self.put(&closing)?);
        }
        self.transact(steps).await
    }

    async fn tombstone(&self, id: &str) -> Result<Option<Poll>, Error> {
        Store::tombstone(self, id).await
    }

    async fn create_poll(&self, poll: &Poll) -> Result<(), Error> {
        Store::create_poll(self, poll).await
    }

    async fn last_closing(&self, id: &str) -> Result<Option<ballot_core::ports::Closing>, Error> {
        let closing: Option<Closing> = self.get_with(poll_pk(id), CLOSED, true).await?;
        Ok(closing.map(|c| ballot_core::ports::Closing { closes_at: c.closes_at, version: c.version }))
    }
}

impl ballot_core::ports::Tallies for Store {
    async fn tally(&self, poll_id: &str) -> Result<ballot_core::counting::Tally, Error> {
        let (total, votes) = Store::tally(self, poll_id).await?;
        Ok(ballot_core::counting::Tally { total, votes })
    }
}
