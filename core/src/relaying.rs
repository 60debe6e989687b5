//! Events from the stream: the tally relays what a batch of committed writes announces
//! to the events queue (an outbox relay), before it folds the batch.
//!
//! - A ballot write of a poll that has a webhook for its kind announces `vote.cast` (a
//!   new ballot) or `vote.changed` (other picks), with the id of the stream record that
//!   carries the write ([`write_event_id`]); a closing announces `poll.closed` to a poll's webhooks with
//!   the id of the closing's version. A deletion always announces `poll.deleted`, which
//!   starts the purge, with or without webhooks.
//! - Invariant: nothing is folded past an event not relayed. The first record whose
//!   event the queue did not take is the batch's failed record, so the stream retries from
//!   it; events relayed before it may be relayed again then, with the same ids, which
//!   consumers de-duplicate. A write committed is therefore announced even when the
//!   function that made it died before answering.

use std::collections::HashMap;

use crate::{
    events::{Event, EventKind, stable_id},
    ports::{Outbox, Result, Subscriptions},
    tally::{Batch, Seq},
};

/// The id of the event announcing the ballot write in stream record `seq` of `shard`:
/// stable across redeliveries of the record (consumers de-duplicate on it), one per write,
/// and derived from nothing a receiver knows or can test: not the voter, not the ballot's
/// version (an id of poll, voter and version would let a poll's owner check whether a
/// known user voted, and how).
pub fn write_event_id(shard: &str, seq: &Seq) -> String {
    stable_id(&format!("ballot-write\n{shard}\n{}", seq.as_str()))
}

/// The events `batch` announces, each with the record it comes from, in stream order
/// (up to the batch's failed record): the ballot writes' where `watched(poll, kind)`,
/// every poll change's.
pub async fn events<F, Fut>(batch: &Batch, watched: F) -> Result<Vec<(Seq, Event)>>
where
    F: Fn(String, EventKind) -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let mut known: HashMap<(String, EventKind), bool> = HashMap::new();
    let mut events = Vec::new();
    let before_failed = |seq: &Seq| batch.failed_from.as_ref().is_none_or(|failed| seq < failed);
    for write in batch.writes.iter().filter(|w| before_failed(&w.seq)) {
        let Some(new) = &write.new else { continue };
        let kind = match &write.old {
            None => EventKind::VoteCast,
            Some(old) if old.option_ids != new.option_ids => EventKind::VoteChanged,
            Some(_) => continue,
        };
        let key = (write.poll_id.clone(), kind);
        let watched = match known.get(&key) {
            Some(watched) => *watched,
            None => *known.entry(key).or_insert(watched(write.poll_id.clone(), kind).await?),
        };
        if !watched {
            continue;
        }
        let cast_at = crate::clock::rfc3339_ms(new.at_ms);
        let data = serde_json::json!({"option_ids": new.option_ids, "cast_at": cast_at});
        let id = write_event_id(&batch.shard, &write.seq);
        let event = Event { id, kind, poll_id: write.poll_id.clone(), occurred_at: cast_at, data };
        events.push((write.seq.clone(), event));
    }
    for change in batch.changes.iter().filter(|c| before_failed(&c.seq)) {
        if change.kind == EventKind::PollDeleted || watched(change.poll.id.clone(), change.kind).await? {
            let mut event = Event::of_poll(change.kind, &change.poll, change.poll.version);
            event.occurred_at.clone_from(&change.poll.updated_at);
            events.push((change.seq.clone(), event));
        }
    }
    events.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(events)
}

/// Relays what `batch` announces ([`events`]) to `outbox`; the first record whose event
/// was not taken, if any (see the module's invariant).
pub async fn relay(outbox: &impl Outbox, subscriptions: &impl Subscriptions, batch: &Batch) -> Result<Option<Seq>> {
    let events = events(batch, |poll, kind| async move { subscriptions.watched(&poll, kind).await }).await?;
    if events.is_empty() {
        return Ok(None);
    }
    let (seqs, events): (Vec<Seq>, Vec<Event>) = events.into_iter().unzip();
    let taken = outbox.send_all(&events).await?;
    Ok(seqs.get(taken).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        memory::open_poll,
        tally::{BallotWrite, Picks, PollChange},
    };

    fn seq(n: u64) -> Seq {
        Seq::parse(&(1000 + n).to_string()).unwrap()
    }

    fn picks(ids: &[&str]) -> Option<Picks> {
        Some(Picks { option_ids: ids.iter().map(|s| (*s).to_owned()).collect(), at_ms: 1_800_000_000_123 })
    }

    fn write(n: u64, poll: &str, old: Option<Picks>, new: Option<Picks>, version: u64) -> BallotWrite {
        BallotWrite { seq: seq(n), poll_id: poll.into(), voter: format!("v{n}"), version, old, new }
    }

    #[derive(Default)]
    struct Queue {
        sent: std::sync::Mutex<Vec<Event>>,
        /// Takes this many events, then fails the rest.
        takes: Option<usize>,
    }

    impl Outbox for Queue {
        async fn send_all(&self, events: &[Event]) -> Result<usize> {
            let taken = self.takes.unwrap_or(events.len()).min(events.len());
            self.sent.lock().unwrap().extend_from_slice(&events[..taken]);
            Ok(taken)
        }
    }

    /// Poll "hooked" has webhooks for votes and closings; "quiet" has none.
    struct Hooks;

    impl Subscriptions for Hooks {
        async fn watched(&self, poll_id: &str, _kind: EventKind) -> Result<bool> {
            Ok(poll_id == "hooked")
        }
    }

    fn batch() -> Batch {
        let mut deleted = open_poll(&["a", "b"]);
        deleted.id = "quiet".into();
        Batch {
            shard: "s".into(),
            writes: vec![
                write(1, "hooked", None, picks(&["a"]), 1),
                write(2, "quiet", None, picks(&["a"]), 1),
                write(3, "hooked", picks(&["a"]), picks(&["b"]), 2),
                write(4, "hooked", picks(&["b"]), picks(&["b"]), 3),
                write(6, "hooked", picks(&["b"]), None, 3),
            ],
            changes: vec![PollChange { seq: seq(5), kind: EventKind::PollDeleted, poll: deleted }],
            failed_from: None,
        }
    }

    #[tokio::test]
    async fn given_a_batch_then_watched_votes_and_every_deletion_are_relayed_in_stream_order() {
        let queue = Queue::default();
        assert_eq!(relay(&queue, &Hooks, &batch()).await.unwrap(), None);
        let sent = queue.sent.lock().unwrap().clone();
        let kinds: Vec<_> = sent.iter().map(|e| (e.kind, e.poll_id.as_str())).collect();
        assert_eq!(
            kinds,
            [(EventKind::VoteCast, "hooked"), (EventKind::VoteChanged, "hooked"), (EventKind::PollDeleted, "quiet")]
        );
        assert_eq!(sent[0].id, write_event_id("s", &seq(1)));
        assert_eq!(sent[1].id, write_event_id("s", &seq(3)), "the id of the write's record");
        // The same voter, poll and version in another record: another id.
        let again = BallotWrite { seq: seq(7), ..write(1, "hooked", None, picks(&["a"]), 1) };
        let again = Batch { writes: vec![again], ..batch() };
        let again = events(&again, |poll, kind| async move { Hooks.watched(&poll, kind).await }).await.unwrap();
        assert_ne!(again[0].1.id, sent[0].id);
        assert_ne!(write_event_id("s", &seq(1)), write_event_id("t", &seq(1)), "shards apart");
        assert_eq!(sent[0].data["cast_at"], "2027-01-15T08:00:00.123Z");
    }

    #[tokio::test]
    async fn given_the_queue_failing_part_way_then_the_record_of_the_first_event_not_taken_is_failed() {
        let queue = Queue { takes: Some(1), ..Queue::default() };
        assert_eq!(relay(&queue, &Hooks, &batch()).await.unwrap(), Some(seq(3)));
        let cut = Batch { failed_from: Some(seq(3)), ..batch() };
        let events = events(&cut, |poll, kind| async move { Hooks.watched(&poll, kind).await }).await.unwrap();
        assert_eq!(events.len(), 1, "nothing at or after a failed record is relayed");
    }
}
