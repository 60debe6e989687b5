//! What a vote costs in DynamoDB, simulated over the store layer: the transaction
//! `shared::store::ballots` really sends for each of many voters is built (not sent) and
//! priced with DynamoDB's rules, per partition key:
//! - a transactional write costs 2 write units per started KB of the item (for an update,
//!   of the item after it: a counter shard is priced at its largest, every option counted);
//! - a strongly consistent read costs 1 read unit per started 4 KB, an eventually
//!   consistent one half that.
//!
//! It reports write units per vote, read units per results read (what `poll-results`
//! reads: the poll eventually consistent, every shard strongly consistent), and the
//! highest vote rate one poll takes before its busiest key passes 1,000 write units/s
//! (a partition's limit).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use ballot_core::{
    ballots::{Ballot, SHARDS, Voter},
    polls::{Poll, Settings, StoredPoll},
};
use shared::store::Store;

pub struct VoteCosts {
    pub voters: usize,
    pub write_units_per_vote: f64,
    pub read_units_per_results: f64,
    pub busiest_key_share: f64,
    pub max_votes_per_second: f64,
    pub single_key_votes_per_second: f64,
}

/// DynamoDB's size of one attribute value (numbers at their largest, 21 bytes).
fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(_) => 21,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        _ => 0,
    }
}

fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

/// The largest a counter shard of `poll` gets: its key, its rules, `total` and a count
/// for every option.
fn shard_size(poll: &Poll) -> usize {
    let key = format!("POLL#{}#COUNT#{}", poll.id, SHARDS - 1).len() + "sk".len() + "COUNT".len() + 2;
    let rules = ["closed", "allow_guests", "allow_vote_change"].iter().map(|n| n.len() + 1).sum::<usize>()
        + "closes_at".len()
        + 21;
    let counts = "total".len() + 21 + poll.options.iter().map(|o| format!("o_{}", o.id).len() + 21).sum::<usize>();
    key + rules + counts
}

/// The key and write units of one step of a transaction.
fn priced(step: &TransactWriteItem, poll: &Poll) -> (String, f64) {
    let pk = |key: &HashMap<String, AttributeValue>| match key.get("pk") {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => String::new(),
    };
    let units = |bytes: usize| 2.0 * bytes.div_ceil(1024).max(1) as f64;
    if let Some(put) = step.put() {
        return (pk(put.item()), units(item_size(put.item())));
    }
    if let Some(update) = step.update() {
        let key = pk(update.key());
        let bytes =
            if key.contains("#COUNT#") { shard_size(poll) } else { serde_json::to_vec(poll).map_or(4096, |b| b.len()) };
        return (key, units(bytes));
    }
    (String::new(), 0.0)
}

/// Casts `voters` first ballots (each on one of four options) on a poll whose voting has
/// started, and prices them.
pub fn simulate(voters: usize) -> Result<VoteCosts, String> {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    let store = Store::new(aws_sdk_dynamodb::Client::from_conf(config), "ballot".into());
    let settings: Settings = serde_json::from_value(serde_json::json!({
        "question": "Which of these four should the team pick for the next offsite?",
        "options": [{"text": "Lisbon"}, {"text": "Kraków"}, {"text": "Tallinn"}, {"text": "Valencia"}],
    }))
    .map_err(|e| e.to_string())?;
    let now = ballot_core::clock::epoch_secs();
    let checked = settings.check(now).map_err(|e| format!("{e:?}"))?;
    let poll = Poll::new(
        ballot_core::ids::random_id(),
        "owner".into(),
        &settings,
        checked,
        &ballot_core::clock::rfc3339_now(),
    );
    let stored = StoredPoll { poll: poll.clone(), voting_started: true };
    let mut per_key: HashMap<String, f64> = HashMap::new();
    let (mut total, mut counter_units) = (0.0, 0.0);
    for i in 0..voters {
        let voter = ballot_core::ids::random_id();
        let option_ids = vec![poll.options[i % poll.options.len()].id.clone()];
        let ballot = Ballot { poll_id: poll.id.clone(), option_ids, cast_at: ballot_core::clock::rfc3339_now() };
        let writes = store
            .new_ballot_writes(&stored, Voter { sub: &voter, guest: false }, &ballot, now)
            .map_err(|e| format!("{e:?}"))?;
        for step in &writes {
            let (key, units) = priced(step, &poll);
            if key.contains("#COUNT#") {
                counter_units = units;
            }
            *per_key.entry(key).or_default() += units;
            total += units;
        }
    }
    let busiest = per_key.values().copied().fold(0.0, f64::max);
    let poll_read = serde_json::to_vec(&poll).map_or(1, |b| b.len()).div_ceil(4096) as f64 * 0.5;
    let shard_reads = SHARDS as f64 * shard_size(&poll).div_ceil(4096) as f64;
    Ok(VoteCosts {
        voters,
        write_units_per_vote: total / voters as f64,
        read_units_per_results: poll_read + shard_reads,
        busiest_key_share: busiest / total,
        max_votes_per_second: 1000.0 * voters as f64 / busiest,
        single_key_votes_per_second: 1000.0 / counter_units,
    })
}

/// The Markdown table for the README.
pub fn markdown(costs: &VoteCosts) -> String {
    format!(
        "| vote cost (simulated over the store layer, {} voters) | value |\n| :--- | ---: |\n\
         | write units per vote (ballot + counter shard, transactional) | {:.1} |\n\
         | read units per results read (poll + {} shards) | {:.1} |\n\
         | share of a poll's writes on its busiest key | {:.1} % |\n\
         | highest votes/s before a key passes 1,000 write units/s | {:.0} |\n\
         | the same with one counter item instead of shards | {:.0} |\n",
        costs.voters,
        costs.write_units_per_vote,
        SHARDS,
        costs.read_units_per_results,
        costs.busiest_key_share * 100.0,
        costs.max_votes_per_second,
        costs.single_key_votes_per_second,
    )
}
