//! The tally's use case: a batch of one stream shard folded into the tally items, one
//! conditional write per item, exactly once (the invariant and why it holds are in
//! [`crate::tally`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{
    ports::{CountingRules, Result, TallyItems, Written as ItemWritten},
    tally::{Batch, Item, bucket_of, delta_above, fold, stale_shards},
};

/// What a batch did: the polls whose counts its records change (for live results),
/// whether folded now or by an earlier delivery of the same records, so a push decision
/// lost with a failed invocation is made again by the retry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tallied {
    pub changed_polls: Vec<String>,
}

/// Attempts at one item's conditional write before the batch fails (and is retried by
/// the stream): each lost attempt means another writer moved the watermark meanwhile.
const ATTEMPTS: usize = 5;

/// Folds `batch` into the tally items, exactly once (see the module).
pub async fn tally(items: &impl TallyItems, rules: &impl CountingRules, batch: &Batch, now: u64) -> Result<Tallied> {
    let mut openings = HashMap::new();
    for write in &batch.writes {
        if !openings.contains_key(&write.poll_id)
            && let Some(rule) = rules.openings(&write.poll_id).await?
        {
            openings.insert(write.poll_id.clone(), rule);
        }
    }
    remove_late_ballots(items, batch, &openings).await?;
    let bucket = bucket_of(&batch.shard);
    let steps = fold(&batch.writes, bucket, batch.failed_from.as_ref(), &openings);
    let mut changed = Vec::new();
    for (item, steps) in steps {
        let changes_counts =
            matches!(item, Item::Counts { .. }) && steps.iter().any(|(_, counters)| counters.values().any(|n| *n != 0));
        for attempt in 1..=ATTEMPTS {
            let watermarks = items.watermarks(&item).await?;
            // The poll is gone: its items are being purged; nothing to count.
            let Some(watermarks) = watermarks else { break };
            let mark = watermarks.get(&batch.shard).map(|m| m.seq.clone());
            let Some(delta) = delta_above(&steps, mark.as_ref()) else {
                changed.extend(changes_counts.then(|| item.poll_id().to_owned()));
                break;
            };
            let prune = stale_shards(&watermarks, &batch.shard, now);
            match items.apply(&item, &batch.shard, mark.as_ref(), &delta, &prune, now).await? {
                ItemWritten::Done => {
                    changed.extend(changes_counts.then(|| item.poll_id().to_owned()));
                    break;
                }
                ItemWritten::Gone => break,
                ItemWritten::Raced if attempt < ATTEMPTS => continue,
                ItemWritten::Raced => {
                    return Err(crate::Error::Unavailable("The tally lost the race for an item; retry.".into()));
                }
            }
        }
    }
    changed.dedup();
    Ok(Tallied { changed_polls: changed })
}

/// Removes the ballots the batch wrote on deleted polls (those `openings` does not know),
/// short of its unfinished records: the purge's pass for ballots that landed after it
/// began (see [`TallyItems::remove_late_ballots`]). A removal's own stream record is a
/// write without a ballot after, which counts nothing.
async fn remove_late_ballots(
    items: &impl TallyItems,
    batch: &Batch,
    openings: &HashMap<String, crate::counting::Openings>,
) -> Result<()> {
    let mut late: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let finished = batch.writes.iter().filter(|w| batch.failed_from.as_ref().is_none_or(|from| w.seq < *from));
    for write in finished.filter(|w| w.new.is_some() && !openings.contains_key(&w.poll_id)) {
        late.entry(&write.poll_id).or_default().insert(&write.voter);
    }
    for (poll_id, voters) in late {
        items.remove_late_ballots(poll_id, &voters.into_iter().collect::<Vec<_>>()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::*;
    use crate::{
        counting::{Openings, recount},
        memory::tally::Items,
    };

    /// 2027-01-15T08:00:00Z, in ms.
    const T0: u64 = 1_800_000_000_000;
    const SHARD: &str = "shardId-00000001700000000000-aaaaaaaa";

    fn seq(n: u64) -> Seq {
        Seq::parse(&format!("4900000000000000000000{n:05}")).unwrap()
    }

    fn picks(ids: &[&str], at_ms: u64) -> Picks {
        Picks { option_ids: ids.iter().map(|s| (*s).to_owned()).collect(), at_ms }
    }

    fn cast(n: u64, poll: &str, ids: &[&str]) -> BallotWrite {
        BallotWrite {
            seq: seq(n),
            poll_id: poll.into(),
            voter: format!("v{n}"),
            version: 1,
            old: None,
            new: Some(picks(ids, T0 + n)),
        }
    }

    fn change(n: u64, poll: &str, from: &[&str], to: &[&str]) -> BallotWrite {
        BallotWrite {
            seq: seq(n),
            poll_id: poll.into(),
            voter: format!("v{n}"),
            version: 2,
            old: Some(picks(from, T0)),
            new: Some(picks(to, T0 + n)),
        }
    }

    fn batch(writes: &[BallotWrite]) -> Batch {
        Batch { shard: SHARD.into(), writes: writes.to_vec(), ..Batch::default() }
    }

    /// 6 writes on p1: five new ballots (a a b c a) and one change (b → c).
    fn writes() -> Vec<BallotWrite> {
        vec![
            cast(1, "p1", &["a"]),
            cast(2, "p1", &["a"]),
            cast(3, "p1", &["b"]),
            cast(4, "p1", &["c"]),
            change(5, "p1", &["b"], &["c"]),
            cast(6, "p1", &["a"]),
        ]
    }

    async fn run(items: &Items, batch: &Batch) -> Result<Tallied> {
        tally(items, items, batch, T0 / 1000).await
    }

    fn assert_counts(items: &Items, total: i64, a: i64, b: i64, c: i64) {
        let got =
            [items.count("p1", "total"), items.count("p1", "o_a"), items.count("p1", "o_b"), items.count("p1", "o_c")];
        assert_eq!(got, [total, a, b, c]);
    }

    #[tokio::test]
    async fn given_a_batch_when_tallied_then_counts_and_hours_and_the_changed_poll() {
        let items = Items::with_polls(&["p1"]);
        let tallied = run(&items, &batch(&writes())).await.unwrap();
        assert_eq!(tallied.changed_polls, ["p1"]);
        assert_counts(&items, 5, 3, 0, 2);
        assert_eq!(items.hourly("p1", "2027-01-15T08", "votes_cast"), 5);
        assert_eq!(items.hourly("p1", "2027-01-15T08", "votes_changed"), 1);
        assert_eq!(items.state().applied, 2, "one write per item: the counts and the hour");
    }

    #[tokio::test]
    async fn given_a_batch_delivered_twice_or_with_duplicated_records_then_counted_once() {
        let items = Items::with_polls(&["p1"]);
        run(&items, &batch(&writes())).await.unwrap();
        let again = run(&items, &batch(&writes())).await.unwrap();
        assert_eq!(again.changed_polls, ["p1"], "reported again, for a push decision the first may have lost");
        let mut doubled = writes();
        doubled.extend(writes());
        run(&items, &batch(&doubled)).await.unwrap();
        assert_counts(&items, 5, 3, 0, 2);
        assert_eq!(items.hourly("p1", "2027-01-15T08", "votes_cast"), 5);
    }

    #[tokio::test]
    async fn given_a_record_that_failed_when_retried_from_it_then_each_record_counts_once() {
        let items = Items::with_polls(&["p1"]);
        let failed = Batch { failed_from: Some(seq(4)), ..batch(&writes()) };
        run(&items, &failed).await.unwrap();
        assert_counts(&items, 3, 2, 1, 0);
        // The stream retries from the failed record, with what came after it.
        run(&items, &batch(&writes()[3..])).await.unwrap();
        assert_counts(&items, 5, 3, 0, 2);
    }

    #[tokio::test]
    async fn given_a_bisected_batch_then_its_halves_and_a_repeat_count_once() {
        let items = Items::with_polls(&["p1"]);
        let all = writes();
        items.fail_apply(0);
        assert!(run(&items, &batch(&all)).await.is_err());
        items.heal();
        run(&items, &batch(&all[..3])).await.unwrap();
        run(&items, &batch(&all[3..])).await.unwrap();
        run(&items, &batch(&all[..3])).await.unwrap();
        assert_counts(&items, 5, 3, 0, 2);
    }

    #[tokio::test]
    async fn given_the_tally_killed_mid_batch_when_the_batch_comes_again_then_exact() {
        let items = Items::with_polls(&["p1", "p2"]);
        let mut all = writes();
        all.push(cast(7, "p2", &["x"]));
        all.push(cast(8, "p2", &["y"]));
        // Dies after its first item write (p1's counts), before the rest.
        items.fail_apply(1);
        assert!(run(&items, &batch(&all)).await.is_err());
        assert_eq!(items.state().applied, 1);
        items.heal();
        run(&items, &batch(&all)).await.unwrap();
        assert_counts(&items, 5, 3, 0, 2);
        assert_eq!(items.count("p2", "total"), 2);
        assert_eq!(items.hourly("p1", "2027-01-15T08", "votes_cast"), 5);
    }

    #[tokio::test]
    async fn given_a_timed_out_invocation_s_write_landing_meanwhile_then_only_the_rest_is_folded() {
        let items = Items::with_polls(&["p1"]);
        let all = writes();
        // The earlier invocation folded the first three records into the counts item.
        let earlier = delta_above(
            &fold(&all[..3], bucket_of(SHARD), None, &HashMap::from([("p1".into(), Openings::default())]))
                [&Item::Counts { poll_id: "p1".into(), bucket: bucket_of(SHARD) }],
            None,
        )
        .unwrap();
        items.before_next_apply(move |state| {
            state.write(&Item::Counts { poll_id: "p1".into(), bucket: bucket_of(SHARD) }, SHARD, &earlier, &[], 0)
        });
        run(&items, &batch(&all)).await.unwrap();
        assert_counts(&items, 5, 3, 0, 2);
    }

    #[tokio::test]
    async fn given_a_shard_rollover_then_the_child_shard_counts_from_its_start() {
        let items = Items::with_polls(&["p1"]);
        run(&items, &batch(&writes()[..3])).await.unwrap();
        // The child shard's numbers need not be above the parent's.
        let child = Batch {
            shard: "shardId-00000001700003600000-bbbbbbbb".into(),
            writes: vec![cast(1, "p1", &["c"]), cast(2, "p1", &["c"])],
            ..Batch::default()
        };
        run(&items, &child).await.unwrap();
        run(&items, &child).await.unwrap();
        assert_counts(&items, 5, 2, 1, 2);
    }

    #[tokio::test]
    async fn given_a_deleted_poll_then_late_writes_recreate_nothing() {
        let items = Items::with_polls(&["p1"]);
        items.state().deleted.insert("p1".into());
        let tallied = run(&items, &batch(&writes())).await.unwrap();
        assert!(tallied.changed_polls.is_empty());
        assert!(items.state().items.is_empty());
    }

    #[tokio::test]
    async fn given_ballots_of_a_deleted_poll_then_they_are_removed_short_of_the_unfinished_records() {
        let items = Items::with_polls(&["p1", "p2"]);
        items.state().deleted.insert("p1".into());
        let mut writes = writes();
        writes.push(cast(7, "p2", &["a"]));
        writes.push(change(2, "p1", &["a"], &["b"])); // v2 once
        writes.push(BallotWrite { new: None, ..cast(8, "p1", &["a"]) }); // a removal removes nothing
        let failed = Batch { failed_from: Some(seq(6)), ..batch(&writes) };
        run(&items, &failed).await.unwrap();
        let removed: Vec<String> = items.state().removed_ballots.iter().map(|(p, v)| format!("{p}/{v}")).collect();
        assert_eq!(removed, ["p1/v1", "p1/v2", "p1/v3", "p1/v4", "p1/v5"], "not p2's, nor p1's unfinished v6");
    }

    #[tokio::test]
    async fn given_ballots_in_and_out_of_open_time_then_the_tally_agrees_with_a_recount() {
        let items = Items::default();
        let openings = Openings { closes_at_ms: None, closed: vec![(T0 + 3, Some(T0 + 5)), (T0 + 7, None)] };
        items.state().openings.insert("p1".into(), openings.clone());
        let all = [
            cast(1, "p1", &["a"]),
            cast(3, "p1", &["b"]),
            cast(5, "p1", &["c"]),
            change(6, "p1", &["a"], &["b"]),
            cast(8, "p1", &["a"]),
        ];
        run(&items, &batch(&all)).await.unwrap();
        // The ballots as they stand: (1 → changed at 6) b, (3) b, (5) c, (8) a.
        let ballot = |picks: &str, at: u64| crate::ballots::Ballot {
            poll_id: "p1".into(),
            option_ids: vec![picks.into()],
            cast_at: crate::clock::rfc3339_ms(at),
        };
        let ballots = [ballot("b", T0 + 6), ballot("b", T0 + 3), ballot("c", T0 + 5), ballot("a", T0 + 8)];
        let expected = recount(&openings, ballots.iter().map(crate::ballots::Ballot::as_counted)).unwrap();
        assert_eq!(items.count("p1", "total"), expected.total as i64);
        for option in ["a", "b", "c"] {
            let want = expected.votes.get(option).copied().unwrap_or_default() as i64;
            assert_eq!(items.count("p1", &option_counter(option)), want, "{option}");
        }
    }

    #[tokio::test]
    async fn given_an_old_shard_s_watermark_when_its_item_is_written_then_it_is_pruned() {
        let items = Items::with_polls(&["p1"]);
        // A parent shard whose records went to the same counts item.
        let parent = (0..).map(|n| format!("shardId-parent-{n}")).find(|s| bucket_of(s) == bucket_of(SHARD)).unwrap();
        let counts = Item::Counts { poll_id: "p1".into(), bucket: bucket_of(SHARD) };
        tally(&items, &items, &Batch { shard: parent.clone(), ..batch(&writes()[..1]) }, 1_000).await.unwrap();
        tally(&items, &items, &batch(&writes()[1..2]), 1_000 + WATERMARK_RETENTION_SECS).await.unwrap();
        assert!(items.state().items[&counts].watermarks.contains_key(&parent), "kept while the stream may redeliver");
        tally(&items, &items, &batch(&writes()[2..]), 1_001 + WATERMARK_RETENTION_SECS).await.unwrap();
        assert_eq!(items.state().items[&counts].watermarks.keys().collect::<Vec<_>>(), [SHARD]);
        assert_counts(&items, 5, 3, 0, 2);
    }

    #[test]
    fn given_sequence_numbers_of_different_lengths_then_they_order_as_numbers() {
        let (short, long) =
            (Seq::parse("999999999999999999999").unwrap(), Seq::parse("1000000000000000000000").unwrap());
        assert!(short < long);
        assert_eq!(long.as_str().len(), Seq::DIGITS);
        assert!(Seq::parse("").is_none() && Seq::parse("12a").is_none() && Seq::parse(&"1".repeat(41)).is_none());
    }

    #[test]
    fn given_instants_then_hours_are_named_in_utc() {
        assert_eq!(hour_of(T0), "2027-01-15T08");
        assert_eq!(hour_of(T0 + 3_599_999), "2027-01-15T08");
        assert_eq!(hour_of(T0 + 3_600_000), "2027-01-15T09");
    }
}
