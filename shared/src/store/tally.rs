//! The tally's items ([`ballot_core::ports::TallyItems`]): a poll's counts and hourly
//! statistics, kept by the stream tally (`ballot_core::tallying`).
//!
//! Keys, all in one partition per poll so results and statistics are one `Query` each:
//! `POLL#<id>#TALLY` / `COUNTS#<bucket>` (`total` and `o_<option id>`), and
//! `POLL#<id>#TALLY` / `HOUR#<yyyy-mm-ddThh>#<bucket>` (`votes_cast`, `votes_changed`).
//! Each stream shard that wrote an item has a top-level attribute `w#<shard id>`:
//! `{seq: <40-digit sequence number>, at: <epoch seconds>}`, its watermark. A purged poll's
//! items carry `purged` (or are gone), and no write lands on them again.
//!
//! Invariant: the counters and the writing shard's watermark change in one `UpdateItem`,
//! conditional on the watermark read, so a record is folded into an item at most once;
//! and the tally folds every record above it, so at least once.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{Store, condition_held_or_item};
use ballot_core::{
    Error,
    ports::Written,
    tally::{Delta, Item, Seq, Watermark},
};

/// The partition of poll `poll_id`'s tally items.
pub fn tally_pk(poll_id: &str) -> String {
    format!("POLL#{poll_id}#TALLY")
}

/// The sort key of `item`.
pub fn tally_sk(item: &Item) -> String {
    match item {
        Item::Counts { bucket, .. } => format!("COUNTS#{bucket}"),
        Item::Hour { hour, bucket, .. } => format!("HOUR#{hour}#{bucket}"),
    }
}

/// Prefix of the watermark attributes.
const WATERMARK: &str = "w#";
const PURGED: &str = "purged";

/// The `ADD` terms of `counters`, their names and values put in `names` and `values`.
fn additions(
    counters: &BTreeMap<String, i64>,
    names: &mut HashMap<String, String>,
    values: &mut HashMap<String, AttributeValue>,
) -> Vec<String> {
    let mut adds = Vec::new();
    for (i, (counter, by)) in counters.iter().enumerate() {
        names.insert(format!("#c{i}"), counter.clone());
        values.insert(format!(":c{i}"), AttributeValue::N(by.to_string()));
        adds.push(format!("#c{i} :c{i}"));
    }
    adds
}

fn watermark_of(value: &AttributeValue) -> Option<Watermark> {
    let map = value.as_m().ok()?;
    let seq = Seq::parse(map.get("seq")?.as_s().ok()?)?;
    let at = map.get("at")?.as_n().ok()?.parse().ok()?;
    Some(Watermark { seq, at })
}

impl ballot_core::ports::TallyItems for Store {
    async fn watermarks(&self, item: &Item) -> Result<Option<BTreeMap<String, Watermark>>, Error> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tally_pk(item.poll_id()), &tally_sk(item))))
            .consistent_read(true)
            .send()
            .await
            .map_err(Error::internal)?;
        let attributes = out.item.unwrap_or_default();
        if attributes.contains_key(PURGED) {
            return Ok(None);
        }
        let mut marks = BTreeMap::new();
        for (name, value) in &attributes {
            if let Some(shard) = name.strip_prefix(WATERMARK) {
                let mark = watermark_of(value).ok_or_else(|| Error::internal(format!("malformed watermark {name}")))?;
                marks.insert(shard.to_owned(), mark);
            }
        }
        Ok(Some(marks))
    }

    async fn apply(
        &self,
        item: &Item,
        shard: &str,
        expected: Option<&Seq>,
        delta: &Delta,
        prune: &[&str],
        now: u64,
    ) -> Result<Written, Error> {
        let mut names =
            HashMap::from([("#w".to_owned(), format!("{WATERMARK}{shard}")), ("#purged".into(), PURGED.into())]);
        let mut values = HashMap::from([(
            ":mark".to_owned(),
            AttributeValue::M(HashMap::from([
                ("seq".to_owned(), AttributeValue::S(delta.last.as_str().to_owned())),
                ("at".to_owned(), AttributeValue::N(now.to_string())),
            ])),
        )]);
        let adds = additions(&delta.counters, &mut names, &mut values);
        let mut removes = Vec::new();
        for (i, old) in prune.iter().enumerate() {
            names.insert(format!("#p{i}"), format!("{WATERMARK}{old}"));
            removes.push(format!("#p{i}"));
        }
        let mut update = "SET #w = :mark".to_owned();
        if !adds.is_empty() {
            update.push_str(&format!(" ADD {}", adds.join(", ")));
        }
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let condition = match expected {
            Some(seq) => {
                values.insert(":expected".into(), AttributeValue::S(seq.as_str().to_owned()));
                "attribute_not_exists(#purged) AND #w.seq = :expected"
            }
            None => "attribute_not_exists(#purged) AND attribute_not_exists(#w)",
        };
        let result = self
            .update_item(tally_pk(item.poll_id()), &tally_sk(item))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        // Lost: to a purge, or to another writer of this shard (then read again).
        Ok(match condition_held_or_item(result)? {
            Ok(_) => Written::Done,
            Err(Some(stood)) if stood.contains_key(PURGED) => Written::Gone,
            Err(_) => Written::Raced,
        })
    }

    async fn remove_late_ballots(&self, poll_id: &str, voters: &[&str]) -> Result<(), Error> {
        self.remove_ballots(poll_id, voters).await
    }
}

impl Store {
    /// Poll `poll_id`'s counts as the tally has them: its count items summed (one `Query`).
    /// One item may hold a negative count (a change folded by another shard than the
    /// ballot's first cast); the sums never are.
    pub async fn tallied(&self, poll_id: &str) -> Result<ballot_core::counting::Tally, Error> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :counts)")
            .expression_attribute_values(":pk", AttributeValue::S(tally_pk(poll_id)))
            .expression_attribute_values(":counts", AttributeValue::S("COUNTS#".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(Error::internal)?;
        let mut sums: HashMap<String, i64> = HashMap::new();
        for item in out.items.unwrap_or_default() {
            for (name, value) in item {
                if name == "total" || name.starts_with("o_") {
                    let n = value.as_n().ok().and_then(|n| n.parse::<i64>().ok());
                    *sums.entry(name).or_default() += n.ok_or_else(|| Error::internal("malformed counter"))?;
                }
            }
        }
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        let total = sums.remove("total").map(count).unwrap_or_default();
        // An option nobody picks (any more) is absent, as in a recount.
        let votes = sums.into_iter().filter(|(_, n)| *n > 0).map(|(name, n)| (name["o_".len()..].to_owned(), count(n)));
        let votes = votes.collect();
        Ok(ballot_core::counting::Tally { total, votes })
    }
}

impl Store {
    /// Counts ballot by ballot, by the rule: what [`Store::tallied`] must say once the
    /// tally has caught up. `None` for a poll that does not exist (or is deleted).
    pub async fn recount(&self, poll_id: &str) -> Result<Option<ballot_core::counting::Tally>, Error> {
        let Some(openings) = ballot_core::ports::CountingRules::openings(self, poll_id).await? else { return Ok(None) };
        let ballots = self.ballots_of(poll_id).await?;
        let tally =
            ballot_core::counting::recount(&openings, ballots.iter().map(ballot_core::ballots::Ballot::as_counted));
        Ok(Some(tally.ok_or_else(|| Error::internal("a ballot's cast_at is not a time"))?))
    }

    /// Makes the tally say `recounted`: the difference is added to the poll's first count
    /// item (watermarks untouched). Run it on a quiet poll, once the tally has caught up:
    /// a ballot folded between the recount and this write would be counted twice.
    pub async fn repair_tally(&self, poll_id: &str, recounted: &ballot_core::counting::Tally) -> Result<(), Error> {
        let tallied = self.tallied(poll_id).await?;
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut counters = BTreeMap::from([("total".to_owned(), signed(recounted.total) - signed(tallied.total))]);
        let options = recounted.votes.keys().chain(tallied.votes.keys());
        for option in options {
            let want = recounted.votes.get(option).copied().map_or(0, signed);
            let have = tallied.votes.get(option).copied().map_or(0, signed);
            counters.insert(ballot_core::tally::option_counter(option), want - have);
        }
        counters.retain(|_, by| *by != 0);
        if counters.is_empty() {
            return Ok(());
        }
        let mut names = HashMap::from([("#purged".to_owned(), PURGED.to_owned())]);
        let mut values = HashMap::new();
        let adds = additions(&counters, &mut names, &mut values);
        let item = Item::Counts { poll_id: poll_id.to_owned(), bucket: 0 };
        self.update_item(tally_pk(poll_id), &tally_sk(&item))
            .update_expression(format!("ADD {}", adds.join(", ")))
            .condition_expression("attribute_not_exists(#purged)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(Error::internal)?;
        Ok(())
    }
}

/// Which ballots count: the rule of [`ballot_core::counting`] on the poll's stored closing
/// time and closed intervals, read strongly consistent (a closing commits before it takes
/// effect, so a batch never holds a ballot the rule read here has not seen the closing of).
impl ballot_core::ports::CountingRules for Store {
    async fn openings(&self, poll_id: &str) -> Result<Option<ballot_core::counting::Openings>, Error> {
        Ok(self.poll(poll_id, true).await?.map(|stored| stored.openings()))
    }
}

/// Results count what the tally has folded: they trail the ballots by the stream's delay.
impl ballot_core::ports::Tallies for Store {
    async fn tally(&self, poll_id: &str) -> Result<ballot_core::counting::Tally, Error> {
        self.tallied(poll_id).await
    }
}
