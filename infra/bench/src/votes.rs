//! A hot poll, simulated over the store layer and the tally's real use case: what one
//! poll takes before any of its partition keys passes DynamoDB's per-key limits (1,000
//! write units/s, 3,000 read units/s).
//!
//! What is real: the ballot `PutItem` each voter's vote sends is built by
//! `shared::store::ballots` (not sent) and priced by its item's size, on the partition
//! key it names (so the spread over `BALLOT_PARTITIONS` keys is the real hash of real
//! voter ids); the tally's batch size and batching window are read from `template.yaml`;
//! each batch is folded by the tally's own use case (`ballot_core::tallying::tally`, with
//! the real `bucket_of`, watermarks and their pruning) into metered in-memory items, so
//! the tally's reads and writes per batch are counted, not assumed.
//!
//! What is modelled (the assumptions, stated in docs/performance.md):
//! - one stream shard carries about 1,000 writes/s, and a ballot partition key lives on
//!   one shard: the keys are packed onto shards (largest first) up to that rate, so a
//!   shard's batch (batch size B, window W) holds `min(B, shard rate × W)` records;
//! - a tally item is priced at its size (key, counters, a watermark per shard that wrote
//!   it), a strongly consistent read at 4 KB a unit and an update at 1 KB;
//! - the vote path reads the poll once per [`CACHE_TTL_MS`] per warm function, and a
//!   warm function serves one vote at a time taking `VOTE_MS`: `rate × VOTE_MS / 1,000`
//!   functions.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use aws_sdk_dynamodb::types::AttributeValue;
use ballot_core::{
    ballots::{BALLOT_PARTITIONS, Ballot},
    counting::{CACHE_TTL_MS, Openings},
    polls::{Poll, Settings},
    ports::{CountingRules, TallyItems, Written},
    tally::{BallotWrite, Batch, Delta, Item, Picks, Seq, Watermark},
};
use shared::store::Store;

/// The rate the simulation checks (votes/s on one poll).
pub const TARGET_RATE: f64 = 50_000.0;
/// How long a warm `cast-vote` takes per vote in AWS (a `PutItem` and the Lambda's own
/// work; the local figure is higher, see `make bench`'s cast-vote line).
const VOTE_MS: f64 = 20.0;
/// Writes one stream shard carries per second.
const SHARD_WRITES: f64 = 1_000.0;

pub struct VoteCosts {
    pub voters: usize,
    /// Write units of one ballot `PutItem`.
    pub ballot_write_units: f64,
    /// Tally write units per vote at the target rate.
    pub tally_write_units_per_vote: f64,
    pub shards: usize,
    /// The template's batch size and batching window (s) of the tally.
    pub batch_size: usize,
    pub window_secs: u64,
    /// Records per batch, averaged over the simulated second's batches.
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

/// A tally item in memory: its counters and its watermarks by shard.
type Stored = (BTreeMap<String, i64>, BTreeMap<String, Watermark>);

/// The tally's items in memory, metered: each watermark read and each update priced at
/// the item's size then (an update at the larger of before and after, which is after:
/// items only grow). Single-threaded, so every conditional write holds.
#[derive(Default)]
struct Metered {
    items: Mutex<BTreeMap<Item, Stored>>,
    /// Write units, read units and poll reads (the counting rule, once per batch).
    units: Mutex<(f64, f64, usize)>,
}

impl Metered {
    /// DynamoDB's size of a tally item: key, counters, a watermark per shard.
    fn size(item: &Item, counters: &BTreeMap<String, i64>, marks: &BTreeMap<String, Watermark>) -> usize {
        let key = format!("POLL#{}#TALLY", item.poll_id()).len() + "sk".len() + "HOUR#2026-12-02T04#3".len() + 2;
        let counters: usize = counters.keys().map(|name| name.len() + 21).sum();
        let mark = |shard: &str| 2 + shard.len() + 3 + "seq".len() + Seq::DIGITS + 1 + "at".len() + 22;
        key + counters + marks.keys().map(|shard| mark(shard)).sum::<usize>()
    }
}

impl TallyItems for Metered {
    async fn watermarks(&self, item: &Item) -> Result<Option<BTreeMap<String, Watermark>>, ballot_core::Error> {
        let items = self.items.lock().unwrap();
        let (counters, marks) = items.get(item).cloned().unwrap_or_default();
        self.units.lock().unwrap().1 += read_units(Self::size(item, &counters, &marks));
        Ok(Some(marks))
    }

    async fn apply(
        &self,
        item: &Item,
        shard: &str,
        _expected: Option<&Seq>,
        delta: &Delta,
        prune: &[&str],
        now: u64,
    ) -> Result<Written, ballot_core::Error> {
        let mut items = self.items.lock().unwrap();
        let (counters, marks) = items.entry(item.clone()).or_default();
        for (name, by) in &delta.counters {
            *counters.entry(name.clone()).or_default() += by;
        }
        for stale in prune {
            marks.remove(*stale);
        }
        marks.insert(shard.to_owned(), Watermark { seq: delta.last.clone(), at: now });
        self.units.lock().unwrap().0 += write_units(Self::size(item, counters, marks));
        Ok(Written::Done)
    }

    async fn remove_late_ballots(&self, _poll_id: &str, _voters: &[&str]) -> Result<(), ballot_core::Error> {
        Ok(())
    }
}

impl CountingRules for Metered {
    async fn openings(&self, _poll_id: &str) -> Result<Option<Openings>, ballot_core::Error> {
        self.units.lock().unwrap().2 += 1;
        Ok(Some(Openings::default()))
    }
}

/// The tally's batch size and batching window (s), from `template.yaml`.
fn tally_batching() -> Result<(usize, u64), String> {
    let template = ballot_local::template::Template::load(&crate::workspace::root().join("template.yaml"))
        .map_err(|e| e.to_string())?;
    let sources = template.stream_event_sources().map_err(|e| e.to_string())?;
    let tally = sources.iter().find(|s| s.binary == "tally").ok_or("template.yaml: no tally stream source")?;
    Ok((tally.batch_size, tally.batching_window_secs.max(1)))
}

/// Packs partition keys with their write rates onto stream shards of [`SHARD_WRITES`]
/// (largest first, onto the first shard with room): each shard's keys.
fn shards_of(rates: &HashMap<String, f64>) -> Vec<Vec<String>> {
    let mut keys: Vec<(&String, f64)> = rates.iter().map(|(k, r)| (k, *r)).collect();
    keys.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let mut shards: Vec<(f64, Vec<String>)> = Vec::new();
    for (key, rate) in keys {
        match shards.iter_mut().find(|(load, _)| load + rate <= SHARD_WRITES) {
            Some((load, keys)) => {
                *load += rate;
                keys.push(key.clone());
            }
            None => shards.push((rate, vec![key.clone()])),
        }
    }
    shards.into_iter().map(|(_, keys)| keys).collect()
}

/// Casts `voters` first ballots (each on one of four options), prices them, and loads
/// the keys of one poll for one second at [`TARGET_RATE`].
pub async fn simulate(voters: usize) -> Result<VoteCosts, String> {
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
    let mut voters_of: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut ballot_units = 0.0;
    for i in 0..voters {
        let voter = ballot_core::ids::random_id();
        let option_ids = vec![poll.options[i % poll.options.len()].id.clone()];
        let cast_at = ballot_core::clock::rfc3339_ms(ballot_core::clock::epoch_ms());
        let ballot = Ballot { poll_id: poll.id.clone(), option_ids: option_ids.clone(), cast_at };
        let put = store.new_ballot_put(&voter, &ballot).map_err(|e| format!("{e:?}"))?;
        let item = put.get_item().clone().unwrap_or_default();
        let pk = item.get("pk").and_then(|pk| pk.as_s().ok()).cloned().unwrap_or_default();
        let units = write_units(item_size(&item));
        *per_key.entry(pk.clone()).or_default() += units;
        voters_of.entry(pk).or_default().push((voter, option_ids[0].clone()));
        ballot_units += units;
    }
    let busiest_share = per_key.values().copied().fold(0.0, f64::max) / ballot_units;
    let ballot_write_units = ballot_units / voters as f64;

    // The stream at the target rate, one second of it, folded by the tally's use case.
    let (batch_size, window_secs) = tally_batching()?;
    let total: usize = voters_of.values().map(Vec::len).sum();
    let key_rates: HashMap<String, f64> =
        voters_of.iter().map(|(k, v)| (k.clone(), TARGET_RATE * v.len() as f64 / total as f64)).collect();
    let shards = shards_of(&key_rates);
    let metered = Metered::default();
    let now_ms = ballot_core::clock::epoch_ms();
    let (mut batches, mut records) = (0usize, 0usize);
    for (n, keys) in shards.iter().enumerate() {
        let shard = format!("shardId-00000001700000000000-{n:08x}");
        let rate: f64 = keys.iter().map(|k| key_rates[k]).sum();
        let mut writes = keys.iter().flat_map(|k| &voters_of[k]).cycle();
        let per_batch = (rate * window_secs as f64).ceil().min(batch_size as f64).max(1.0) as usize;
        let mut left = rate.round() as usize;
        let mut seq = 0u64;
        while left > 0 {
            let take = per_batch.min(left);
            let batch_writes = (0..take)
                .filter_map(|_| writes.next())
                .map(|(voter, option)| {
                    seq += 1;
                    BallotWrite {
                        seq: Seq::parse(&format!("49{seq:020}")).expect("digits"),
                        poll_id: poll.id.clone(),
                        voter: voter.clone(),
                        version: 1,
                        old: None,
                        new: Some(Picks { option_ids: vec![option.clone()], at_ms: now_ms }),
                    }
                })
                .collect();
            let batch = Batch { shard: shard.clone(), writes: batch_writes, ..Batch::default() };
            ballot_core::tallying::tally(&metered, &metered, &batch, now_ms / 1000).await.map_err(|e| e.to_string())?;
            (batches, records, left) = (batches + 1, records + take, left - take);
        }
    }
    let (tally_key_wcu, tally_key_rcu, poll_reads) = *metered.units.lock().unwrap();
    let poll_bytes = serde_json::to_vec(&poll).map_or(4096, |b| b.len());
    let functions = TARGET_RATE * VOTE_MS / 1000.0;
    let poll_key_rcu = (functions * 1000.0 / CACHE_TTL_MS as f64 + poll_reads as f64) * read_units(poll_bytes);
    let ballot_key_wcu = TARGET_RATE * ballot_write_units * busiest_share;

    // Every load grows in proportion to the rate (the tally's only while batches are
    // full, which they are from a full shard): the first to reach its limit.
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
        shards: shards.len(),
        batch_size,
        window_secs,
        batch: records as f64 / batches as f64,
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
         | tally write units per vote at {:.0} votes/s ({} stream shards; batch size {}, window {} s: batches of {:.0} on average) | {:.3} |\n\
         | busiest ballot key ({} partitions), write units/s | {:.0} |\n\
         | tally partition, write units/s · read units/s | {:.0} · {:.0} |\n\
         | poll item, read units/s ({:.0} warm functions, {} ms copies) | {:.0} |\n\
         | highest votes/s on one poll before a key passes its limit | {:.0} ({}) |\n",
        costs.voters,
        costs.ballot_write_units,
        TARGET_RATE,
        costs.shards,
        costs.batch_size,
        costs.window_secs,
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
