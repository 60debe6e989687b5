//! A hot poll, simulated over the store layer: what one poll takes before any of its
//! partition keys passes DynamoDB's per-key limits (1,000 write units/s, 3,000 read
//! units/s).
//!
//! What is real: the ballot `PutItem` each voter's vote sends is built by
//! `shared::store::ballots` (not sent) and priced by its item's size, on the partition
//! key it names (so the spread over `BALLOT_PARTITIONS` keys is the real hash of real
//! voter ids); the stream shards' ids go through the tally's real `bucket_of`.
//!
//! What is modelled (the assumptions, stated in docs/performance.md):
//! - one stream shard carries about 1,000 writes/s, so a poll's ballots at `rate` votes/s
//!   come through `ceil(rate / 1,000)` shards, and a tally batch (batch size 1,000,
//!   window 1 s) holds `min(1,000, rate / shards)` records;
//! - each batch costs its shard one consistent read of the poll (the counting rule),
//!   and per tally item it touches (its bucket's counts item and the hour's item) one
//!   consistent read of the watermarks and one update, priced at the item's largest
//!   (every option counted, a watermark for every shard of its bucket);
//! - the vote path reads the poll once per [`CACHE_TTL_MS`] per warm function, and a
//!   warm function serves one vote at a time taking `VOTE_MS`: `rate × VOTE_MS / 1,000`
//!   functions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use ballot_core::{
    ballots::{BALLOT_PARTITIONS, Ballot},
    counting::CACHE_TTL_MS,
    polls::{Poll, Settings},
    tally::{BUCKETS, Seq, bucket_of},
};
use shared::store::Store;

/// The rate the simulation checks (votes/s on one poll).
pub const TARGET_RATE: f64 = 50_000.0;
/// How long a warm `cast-vote` takes per vote in AWS (a `PutItem` and the Lambda's own
/// work; the local figure is higher, see `make bench`'s cast-vote line).
const VOTE_MS: f64 = 20.0;
/// Writes one stream shard carries per second.
const SHARD_WRITES: f64 = 1_000.0;
const BATCH_SIZE: f64 = 1_000.0;

pub struct VoteCosts {
    pub voters: usize,
    /// Write units of one ballot `PutItem`.
    pub ballot_write_units: f64,
    /// Tally write units per vote at the target rate.
    pub tally_write_units_per_vote: f64,
    pub shards: usize,
    pub batch: f64,
    /// Per-key loads at the target rate: the busiest ballot key (write units/s), the
    /// tally partition (write and read units/s), the poll item (read units/s).
    pub ballot_key_wcu: f64,
    pub tally_key_wcu: f64,
    pub tally_key_rcu: f64,
    pub poll_key_rcu: f64,
    /// The highest rate before a key passes its limit, and which key it is.
    pub max_votes_per_second: f64,
    pub limiting_key: &'static str,
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

fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

fn read_units(bytes: usize) -> f64 {
    bytes.div_ceil(4096).max(1) as f64
}

/// The largest a tally item of `poll` gets with `shards` watermarks: its key, `total`
/// and a count for every option (or the hour's two counters), and the watermarks.
fn tally_item_size(poll: &Poll, shards: usize) -> usize {
    let key = format!("POLL#{}#TALLY", poll.id).len() + "sk".len() + "HOUR#2026-12-02T04#3".len() + 2;
    let counts = "total".len() + 21 + poll.options.iter().map(|o| format!("o_{}", o.id).len() + 21).sum::<usize>();
    let mark = "w#shardId-00000001700000000000-0123abcd".len() + 3 + "seq".len() + Seq::DIGITS + 1 + "at".len() + 22;
    key + counts + shards * mark
}

/// Casts `voters` first ballots (each on one of four options), prices them, and loads
/// the keys of one poll at [`TARGET_RATE`].
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

    // The ballots: real requests, real keys.
    let mut per_key: HashMap<String, f64> = HashMap::new();
    let mut ballot_units = 0.0;
    for i in 0..voters {
        let voter = ballot_core::ids::random_id();
        let option_ids = vec![poll.options[i % poll.options.len()].id.clone()];
        let cast_at = ballot_core::clock::rfc3339_ms(ballot_core::clock::epoch_ms());
        let ballot = Ballot { poll_id: poll.id.clone(), option_ids, cast_at };
        let put = store.new_ballot_put(&voter, &ballot).map_err(|e| format!("{e:?}"))?;
        let item = put.get_item().clone().unwrap_or_default();
        let pk = item.get("pk").and_then(|pk| pk.as_s().ok()).cloned().unwrap_or_default();
        let units = write_units(item_size(&item));
        *per_key.entry(pk).or_default() += units;
        ballot_units += units;
    }
    let busiest_share = per_key.values().copied().fold(0.0, f64::max) / ballot_units;
    let ballot_write_units = ballot_units / voters as f64;

    // The stream and the tally at the target rate.
    let shards = (TARGET_RATE / SHARD_WRITES).ceil() as usize;
    let batch = (TARGET_RATE / shards as f64).min(BATCH_SIZE);
    let batches_per_shard = TARGET_RATE / shards as f64 / batch;
    let mut per_bucket = vec![0usize; BUCKETS as usize];
    for n in 0..shards {
        per_bucket[bucket_of(&format!("shardId-00000001700000000000-{n:08x}")) as usize] += 1;
    }
    let busiest_bucket = per_bucket.iter().copied().max().unwrap_or(0);
    let item_units = write_units(tally_item_size(&poll, busiest_bucket));
    // Per batch: the counts item and the hour's item, each one read and one update.
    let tally_key_wcu = shards as f64 * batches_per_shard * 2.0 * item_units;
    let tally_key_rcu = shards as f64 * batches_per_shard * 2.0 * read_units(tally_item_size(&poll, busiest_bucket));
    let poll_bytes = serde_json::to_vec(&poll).map_or(4096, |b| b.len());
    let functions = TARGET_RATE * VOTE_MS / 1000.0;
    let poll_key_rcu =
        (functions * 1000.0 / CACHE_TTL_MS as f64 + shards as f64 * batches_per_shard) * read_units(poll_bytes);
    let ballot_key_wcu = TARGET_RATE * ballot_write_units * busiest_share;

    // Every load grows in proportion to the rate (the tally's only while batches are
    // full, which they are from 1,000 votes/s a shard): the first to reach its limit.
    let limits = [
        ("a ballot partition (write units)", 1000.0 / ballot_key_wcu),
        ("the tally partition (write units)", 1000.0 / tally_key_wcu),
        ("the tally partition (read units)", 3000.0 / tally_key_rcu),
        ("the poll item (read units)", 3000.0 / poll_key_rcu),
    ];
    let (limiting_key, headroom) = limits.into_iter().min_by(|a, b| a.1.total_cmp(&b.1)).ok_or("no limits")?;
    Ok(VoteCosts {
        voters,
        ballot_write_units,
        tally_write_units_per_vote: tally_key_wcu / TARGET_RATE,
        shards,
        batch,
        ballot_key_wcu,
        tally_key_wcu,
        tally_key_rcu,
        poll_key_rcu,
        max_votes_per_second: TARGET_RATE * headroom,
        limiting_key,
    })
}

/// The Markdown table for the README.
pub fn markdown(costs: &VoteCosts) -> String {
    format!(
        "| hot poll (simulated over the store layer, {} voters' real ballot writes) | value |\n| :--- | ---: |\n\
         | write units per ballot (one `PutItem`) | {:.2} |\n\
         | tally write units per vote at {:.0} votes/s ({} stream shards, batches of {:.0}) | {:.3} |\n\
         | busiest ballot key ({} partitions), write units/s | {:.0} |\n\
         | tally partition, write units/s · read units/s | {:.0} · {:.0} |\n\
         | poll item, read units/s ({:.0} warm functions, {} ms copies) | {:.0} |\n\
         | highest votes/s on one poll before a key passes its limit | {:.0} ({}) |\n",
        costs.voters,
        costs.ballot_write_units,
        TARGET_RATE,
        costs.shards,
        costs.batch,
        costs.tally_write_units_per_vote,
        BALLOT_PARTITIONS,
        costs.ballot_key_wcu,
        costs.tally_key_wcu,
        costs.tally_key_rcu,
        TARGET_RATE * VOTE_MS / 1000.0,
        CACHE_TTL_MS,
        costs.poll_key_rcu,
        costs.max_votes_per_second,
        costs.limiting_key,
    )
}
