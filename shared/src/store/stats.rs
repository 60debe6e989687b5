//! Hourly vote statistics per poll, as `GET /v1/polls/{id}/stats` returns them: the
//! stream tally keeps them beside the counts (`HOUR#<yyyy-mm-ddThh>#<bucket>` items of
//! [`super::tally`]), so they move exactly once per counted ballot write; an hour is the
//! sum of its buckets.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::Store;
use ballot_core::Error;

/// One hour of a poll's votes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourStats {
    /// The start of the hour, RFC 3339.
    pub hour: String,
    pub votes_cast: u64,
    pub votes_changed: u64,
}

impl Store {
    /// A poll's hours with votes, oldest first.
    pub async fn hourly_stats(&self, poll_id: &str) -> Result<Vec<HourStats>, Error> {
        let mut hours: BTreeMap<String, HourStats> = BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :hour)")
                .expression_attribute_values(":pk", AttributeValue::S(super::tally::tally_pk(poll_id)))
                .expression_attribute_values(":hour", AttributeValue::S("HOUR#".into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(Error::internal)?;
            for item in out.items.unwrap_or_default() {
                let Some(hour) = item.get("sk").and_then(|sk| sk.as_s().ok()).and_then(|sk| sk.get(5..18)) else {
                    continue;
                };
                let stats = hours
                    .entry(hour.to_owned())
                    .or_insert_with(|| HourStats { hour: format!("{hour}:00:00Z"), ..HourStats::default() });
                let counter = |name: &str| {
                    let n = item.get(name).and_then(|v| v.as_n().ok()).map_or(Ok(0), |n| n.parse::<i64>());
                    n.map(|n| u64::try_from(n).unwrap_or_default()).map_err(Error::internal)
                };
                stats.votes_cast += counter("votes_cast")?;
                stats.votes_changed += counter("votes_changed")?;
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(hours.into_values().filter(|h| h.votes_cast + h.votes_changed > 0).collect());
            }
        }
    }
}
