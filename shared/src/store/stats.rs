//! Hourly vote statistics per poll, kept by the events consumer.
//!
//! Keys: `POLL#<id>#STATS` / `HOUR#<yyyy-mm-ddThh>` with `votes_cast` and `votes_changed`,
//! and `EVENT#<event id>` / `STATS` marking an event as counted (kept 14 days, longer
//! than SQS keeps a message). The mark and the increment are one transaction, so an
//! event delivered any number of times is counted once.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::Store;
use ballot_core::Error;
use ballot_core::events::{Event, EventKind};

const MARK_DAYS: u64 = 14;

pub(super) fn stats_pk(poll_id: &str) -> String {
    format!("POLL#{poll_id}#STATS")
}

/// One hour of a poll's votes, as `GET /v1/polls/{id}/stats` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourStats {
    /// The start of the hour, RFC 3339.
    pub hour: String,
    #[serde(default)]
    pub votes_cast: u64,
    #[serde(default)]
    pub votes_changed: u64,
}

#[derive(Serialize, Deserialize)]
struct MarkItem {
    pk: String,
    sk: String,
    expires_at: u64,
}

impl Store {
    /// Counts a vote event in its poll's hour; `false` (and nothing written) when it was
    /// counted before. Other events are not counted.
    pub async fn count_vote_event(&self, event: &Event) -> Result<bool, Error> {
        let field = match event.kind {
            EventKind::VoteCast => "votes_cast",
            EventKind::VoteChanged => "votes_changed",
            _ => return Ok(false),
        };
        // `occurred_at` is RFC 3339 UTC: its first 13 characters are the hour.
        let hour = event
            .occurred_at
            .get(..13)
            .filter(|h| h.len() == 13 && h.as_bytes()[10] == b'T')
            .ok_or_else(|| Error::internal(format!("event {} has an invalid occurred_at", event.id)))?;
        let mark = MarkItem {
            pk: format!("EVENT#{}", event.id),
            sk: "STATS".into(),
            expires_at: ballot_core::clock::epoch_secs() + MARK_DAYS * 86_400,
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(stats_pk(&event.poll_id), &format!("HOUR#{hour}"))))
            .update_expression("SET #hour = :hour ADD #field :one")
            .expression_attribute_names("#hour", "hour")
            .expression_attribute_names("#field", field)
            .expression_attribute_values(":hour", AttributeValue::S(format!("{hour}:00:00Z")))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(Error::internal)?;
        self.transact(vec![self.put_new(&mark)?, TransactWriteItem::builder().update(update).build()]).await
    }

    /// A poll's hours with votes, oldest first.
    pub async fn hourly_stats(&self, poll_id: &str) -> Result<Vec<HourStats>, Error> {
        let query = super::Query { index: None, key: "pk", value: stats_pk(poll_id), limit: None, descending: false };
        self.query_all(&query).await
    }
}
