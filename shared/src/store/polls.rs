//! Polls.
//!
//! Keys:
//! - `POLL#<id>` / `POLL` — the poll ([`PollItem`]): `gsi1pk` `OWNER#<owner>` lists an
//!   owner's polls and `gsi2pk` `PUBLIC` the public feed, both by `<created_at>#<id>`.
//!   It carries the closed intervals ([`StoredPoll::closed`]) that decide which ballots
//!   count. A deleted poll keeps a tombstone (`deleted`, no index keys) until the purge
//!   removes it, so it is gone for every reader at once.
//!
//! Votes never write the poll item except once, to mark `voting_started`; they read it
//! through a copy cached per warm function ([`crate::poll_cache`]), so a hot poll's item
//! is not a hot key.
//!
//! Invariants: every write to a poll is conditional on the version, `voting_started` and
//! `deleted` it read, so no change is lost.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::Store;
use ballot_core::{
    Error,
    events::EventKind,
    polls::{Poll, Status, StoredPoll, Visibility},
    tally::{PollChange, Seq},
};

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
    #[serde(deserialize_with = "upgraded_poll")]
    pub(super) poll: Poll,
    /// A ballot exists (set by the first ballots, see [`super::ballots`]).
    #[serde(default)]
    pub(super) voting_started: bool,
    #[serde(default)]
    deleted: bool,
    /// [`StoredPoll::closed`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    closed: Vec<Span>,
}

/// A stored poll, as [`Poll::upgraded`] reads one stored before `voters` existed.
fn upgraded_poll<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Poll, D::Error> {
    Poll::deserialize(de).map(Poll::upgraded)
}

/// A closed interval `[from, until)` in epoch ms.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Span {
    from: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<u64>,
}

pub(super) const POLL: &str = "POLL";

pub(super) fn poll_pk(id: &str) -> String {
    format!("POLL#{id}")
}

/// The change of a poll item a stream record shows that others must hear of
/// ([`PollChange`]), from its images; `None` when the record is not of a poll item or
/// changes nothing they hear of. An image that cannot be read is an error: the tally must
/// not skip it.
pub fn poll_change(seq: Seq, old: &serde_dynamo::Item, new: &serde_dynamo::Item) -> Option<Result<PollChange, Error>> {
    let is_poll =
        |image: &serde_dynamo::Item| matches!(image.get("sk"), Some(serde_dynamo::AttributeValue::S(sk)) if sk == POLL);
    if !is_poll(new) || !is_poll(old) {
        return None;
    }
    let read =
        |image: &serde_dynamo::Item| serde_dynamo::from_item::<_, PollItem>(image.clone()).map_err(Error::internal);
    let (old, new) = match (read(old), read(new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(err), _) | (_, Err(err)) => return Some(Err(err)),
    };
    let kind = if new.deleted && !old.deleted {
        EventKind::PollDeleted
    } else if !new.deleted && old.poll.status == Status::Open && new.poll.status == Status::Closed {
        EventKind::PollClosed
    } else {
        return None;
    };
    Some(Ok(PollChange { seq, kind, poll: new.poll }))
}

impl PollItem {
    fn new(stored: &StoredPoll, deleted: bool) -> Self {
        let poll = stored.poll.clone();
        let listed = format!("{}#{}", poll.created_at, poll.id);
        Self {
            pk: poll_pk(&poll.id),
            sk: POLL.into(),
            gsi1pk: (!deleted).then(|| format!("OWNER#{}", poll.owner_id)),
            gsi1sk: listed.clone(),
            gsi2pk: (!deleted && poll.visibility == Visibility::Public).then(|| "PUBLIC".into()),
            gsi2sk: listed,
            poll,
            voting_started: stored.voting_started,
            deleted,
            closed: stored.closed.iter().map(|&(from, until)| Span { from, until }).collect(),
        }
    }

    fn stored(self) -> StoredPoll {
        let closed = self.closed.iter().map(|span| (span.from, span.until)).collect();
        StoredPoll { poll: self.poll, voting_started: self.voting_started, closed }
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
    /// Writes a new poll, only if no poll has its id.
    pub async fn create_poll(&self, poll: &Poll) -> Result<(), Error> {
        let item =
            serde_dynamo::to_item(PollItem::new(&StoredPoll::new(poll.clone()), false)).map_err(Error::internal)?;
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(Error::internal)?;
        Ok(())
    }

    /// The poll `id` unless it does not exist or is deleted (`consistent`: a strongly
    /// consistent read; else eventually consistent, half the read units).
    pub async fn poll(&self, id: &str, consistent: bool) -> Result<Option<StoredPoll>, Error> {
        let item: Option<PollItem> = self.get_with(poll_pk(id), POLL, consistent).await?;
        Ok(item.filter(|item| !item.deleted).map(PollItem::stored))
    }

    /// A deleted poll whose purge has not finished yet.
    pub async fn tombstone(&self, id: &str) -> Result<Option<Poll>, Error> {
        let item: Option<PollItem> = self.get(poll_pk(id), POLL).await?;
        Ok(item.filter(|item| item.deleted).map(|item| item.poll))
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
}

/// Polls on DynamoDB: each write of a poll is one conditional write of its item.
impl ballot_core::ports::Polls for Store {
    async fn poll(&self, id: &str, consistent: bool) -> Result<Option<StoredPoll>, Error> {
        Store::poll(self, id, consistent).await
    }

    async fn replace_poll(&self, read: &StoredPoll, next: &StoredPoll, delete: bool) -> Result<bool, Error> {
        let item = serde_dynamo::to_item(PollItem::new(next, delete)).map_err(Error::internal)?;
        let sent = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("poll.version = :version AND voting_started = :started AND deleted = :false")
            .expression_attribute_values(":version", AttributeValue::N(read.poll.version.to_string()))
            .expression_attribute_values(":started", AttributeValue::Bool(read.voting_started))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(_)) => {
                    Ok(false)
                }
                _ => Err(Error::internal(err)),
            },
        }
    }

    async fn start_voting(&self, read: &StoredPoll) -> Result<bool, Error> {
        let sent = self
            .update_item(poll_pk(&read.poll.id), POLL)
            .update_expression("SET voting_started = :true")
            .condition_expression("poll.version = :version AND deleted = :false")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":version", AttributeValue::N(read.poll.version.to_string()))
            .send()
            .await;
        Ok(super::condition_held(sent)?.is_some())
    }

    async fn tombstone(&self, id: &str) -> Result<Option<Poll>, Error> {
        Store::tombstone(self, id).await
    }

    async fn create_poll(&self, poll: &Poll) -> Result<(), Error> {
        Store::create_poll(self, poll).await
    }
}
