//! The stream tally (`ballot_core::tallying`) over the table's tally items
//! (`shared::store::tally`) on the local stack: the conditional writes keep each record
//! counted once when batches come twice, retry from a failed record, race a write still
//! in flight, roll over to a child shard, or reach a purged poll. Each scenario ends with
//! the tally compared against a recount of the ballots it was given.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use ballot_core::{
    counting::{Openings, Tally, recount},
    ids::random_id,
    ports::{CountingRules, Result, TallyItems, Written},
    tally::{BallotWrite, Batch, Item, Picks, Seq, bucket_of, delta_above, fold},
    tallying::tally,
};
use ballot_tests::local_store;
use shared::store::{
    Store,
    tally::{tally_pk, tally_sk},
};

/// Every poll is open all the time.
struct Open;

impl CountingRules for Open {
    async fn openings(&self, _poll_id: &str) -> Result<Option<Openings>> {
        Ok(Some(Openings::default()))
    }
}

const T0: u64 = 1_800_000_000_000;

fn shard() -> String {
    format!("shardId-{}", random_id())
}

fn seq(n: u64) -> Seq {
    Seq::parse(&format!("{}", 49_000_000_000_000_000_000u128 + u128::from(n))).unwrap()
}

fn picks(ids: &[&str], at_ms: u64) -> Picks {
    Picks { option_ids: ids.iter().map(|s| (*s).to_owned()).collect(), at_ms }
}

/// `n` new ballots on `poll` picking "a", "b", "c" in turn, then every third changed to
/// "c": the writes and the ballots as they end up.
fn votes(poll: &str, n: u64) -> (Vec<BallotWrite>, Vec<(Vec<String>, u64)>) {
    let options = ["a", "b", "c"];
    let mut writes = Vec::new();
    let mut ballots = Vec::new();
    for i in 0..n {
        let pick = options[(i % 3) as usize];
        let (voter, version) = (format!("v{i}"), 1);
        writes.push(BallotWrite {
            seq: seq(i),
            poll_id: poll.into(),
            voter,
            version,
            old: None,
            new: Some(picks(&[pick], T0 + i)),
        });
        ballots.push((vec![pick.to_owned()], T0 + i));
    }
    for i in (0..n).step_by(3) {
        let from = ballots[i as usize].0.clone();
        let from: Vec<&str> = from.iter().map(String::as_str).collect();
        writes.push(BallotWrite {
            seq: seq(n + i),
            poll_id: poll.into(),
            voter: format!("v{i}"),
            version: 2,
            old: Some(picks(&from, T0 + i)),
            new: Some(picks(&["c"], T0 + n + i)),
        });
        ballots[i as usize] = (vec!["c".into()], T0 + n + i);
    }
    (writes, ballots)
}

fn expected(ballots: &[(Vec<String>, u64)]) -> Tally {
    let ballots = ballots.iter().map(|(picks, at)| ballot_core::ballots::Ballot {
        poll_id: String::new(),
        option_ids: picks.clone(),
        cast_at: ballot_core::clock::rfc3339_ms(*at),
    });
    let ballots: Vec<_> = ballots.collect();
    recount(&Openings::default(), ballots.iter().map(ballot_core::ballots::Ballot::as_counted)).expect("times")
}

async fn run(store: &Store, shard: &str, writes: &[BallotWrite]) {
    let batch = Batch { shard: shard.to_owned(), writes: writes.to_vec(), ..Batch::default() };
    tally(store, &Open, &batch, T0 / 1000).await.unwrap();
}

#[tokio::test]
async fn given_a_batch_delivered_twice_and_a_duplicated_record_then_each_vote_counts_once() {
    let (store, poll, shard) = (local_store().await, random_id(), shard());
    let (writes, ballots) = votes(&poll, 30);
    run(&store, &shard, &writes).await;
    run(&store, &shard, &writes).await;
    run(&store, &shard, &writes[10..12]).await;
    assert_eq!(store.tallied(&poll).await.unwrap(), expected(&ballots));
}

#[tokio::test]
async fn given_a_failed_record_when_the_stream_retries_from_it_then_exact() {
    let (store, poll, shard) = (local_store().await, random_id(), shard());
    let (writes, ballots) = votes(&poll, 30);
    let failed = Batch {
        shard: shard.clone(),
        writes: writes.clone(),
        failed_from: Some(writes[17].seq.clone()),
        ..Batch::default()
    };
    tally(&store, &Open, &failed, T0 / 1000).await.unwrap();
    let partial = store.tallied(&poll).await.unwrap();
    assert_eq!(partial.total, 17, "nothing from the failed record on");
    run(&store, &shard, &writes[17..]).await;
    assert_eq!(store.tallied(&poll).await.unwrap(), expected(&ballots));
}

#[tokio::test]
async fn given_a_timed_out_invocation_s_write_landing_first_then_only_the_rest_is_folded() {
    let (store, poll, shard) = (local_store().await, random_id(), shard());
    let (writes, ballots) = votes(&poll, 30);
    // The earlier invocation's write of the first 12 records lands before this one's.
    let item = Item::Counts { poll_id: poll.clone(), bucket: bucket_of(&shard) };
    let openings = HashMap::from([(poll.clone(), Openings::default())]);
    let earlier = delta_above(&fold(&writes[..12], bucket_of(&shard), None, &openings)[&item], None).unwrap();
    assert_eq!(store.apply(&item, &shard, None, &earlier, &[], T0 / 1000).await.unwrap(), Written::Done);
    // A writer that read the item before that write landed loses, and writes nothing.
    assert_eq!(store.apply(&item, &shard, None, &earlier, &[], T0 / 1000).await.unwrap(), Written::Raced);
    run(&store, &shard, &writes).await;
    assert_eq!(store.tallied(&poll).await.unwrap(), expected(&ballots));
}

#[tokio::test]
async fn given_a_shard_rollover_then_parent_and_child_both_count_once() {
    let (store, poll) = (local_store().await, random_id());
    let (writes, ballots) = votes(&poll, 30);
    let (parent, child) = (shard(), shard());
    run(&store, &parent, &writes[..20]).await;
    // The child's sequence numbers start again, lower than the parent's last.
    let renumbered: Vec<BallotWrite> =
        writes[20..].iter().enumerate().map(|(i, w)| BallotWrite { seq: seq(i as u64), ..w.clone() }).collect();
    run(&store, &child, &renumbered).await;
    run(&store, &parent, &writes[..20]).await;
    run(&store, &child, &renumbered).await;
    assert_eq!(store.tallied(&poll).await.unwrap(), expected(&ballots));
}

#[tokio::test]
async fn given_a_purged_poll_then_late_records_write_nothing() {
    let (store, poll, shard) = (local_store().await, random_id(), shard());
    let (writes, _) = votes(&poll, 6);
    let item = Item::Counts { poll_id: poll.clone(), bucket: bucket_of(&shard) };
    store
        .db
        .put_item()
        .table_name(&store.table)
        .item("pk", AttributeValue::S(tally_pk(&poll)))
        .item("sk", AttributeValue::S(tally_sk(&item)))
        .item("purged", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    run(&store, &shard, &writes).await;
    assert_eq!(store.tallied(&poll).await.unwrap(), Tally::default());
    assert_eq!(store.watermarks(&item).await.unwrap(), None);
}
