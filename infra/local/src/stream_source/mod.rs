//! DynamoDB stream event-source mappings as Lambda runs them, over moto's stream
//! (DescribeStream, GetShardIterator, GetRecords through the AWS SDK).
//!
//! Invariants, as in AWS with `ParallelizationFactor: 1`:
//! - one batch per shard is in flight at a time, and records reach the function in
//!   stream order; a batch never spans two shards;
//! - a record is done when the function succeeded on it, when it was filtered out, or
//!   when it was given up on (retries exhausted or too old), after its batch's
//!   on-failure record was sent; nothing after a record is delivered before it is done
//!   (retries and bisected halves go first).
//!
//! moto keeps one shard forever. With a rollover (`BALLOT_STREAM_ROLLOVER_AT=<n>`) the
//! player presents records `k·n … (k+1)·n − 1` of that shard as coming from the k-th
//! child shard ([`shard_id`]): the parent closes after its last record, so batches end
//! there, and on-failure records name the child. Lambda's event itself names no shard,
//! unless the mapping has a tumbling window ([`window`]): then each event carries the
//! shard, the window and the state, a window never spans two shards, and it closes with
//! a final invocation when its time is up or its shard ends.

mod filter;
mod record;
pub mod window;

use std::{collections::VecDeque, ops::Range, time::Duration};

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::{Value, json};
use tokio::time::Instant;

use self::window::{STATE_LIMIT, returned_state, window_start};
pub use self::{
    filter::passes,
    record::{Condition, FailedBatch, StreamRecord, on_failure_record},
    window::Window,
};
use crate::{
    event_sources::reported_failures,
    invoke::{InvokeError, Invoker},
    stack::Stack,
    template::StreamEventSource,
};

/// How often an idle shard is read (Lambda polls a DynamoDB stream shard 4 times a second).
const POLL: Duration = Duration::from_millis(250);
/// GetRecords returns at most 1,000 records.
const READ_LIMIT: i32 = 1000;

/// The environment variable that sets the rollover (records per presented shard).
pub const ROLLOVER_ENV: &str = "BALLOT_STREAM_ROLLOVER_AT";

/// The environment variable that makes every batch be delivered twice (`1`): a batch the
/// function succeeded on is invoked again at once, as Lambda may (at-least-once).
pub const REPEAT_ENV: &str = "BALLOT_STREAM_REPEAT";

/// Whether [`REPEAT_ENV`] asks for every batch twice.
pub fn repeat_from_env() -> bool {
    std::env::var(REPEAT_ENV).is_ok_and(|v| v == "1")
}

/// The rollover [`ROLLOVER_ENV`] asks for, if any (a positive number of records).
pub fn rollover_from_env() -> Option<u64> {
    std::env::var(ROLLOVER_ENV).ok()?.parse().ok().filter(|n| *n > 0)
}

/// The id of the shard a record at `index` of moto's shard `base` is presented from:
/// `base` itself, then `<base>-child<k>` for the k-th rollover.
pub fn shard_id(base: &str, rollover_at: Option<u64>, index: u128) -> String {
    match rollover_at.map(|n| index / u128::from(n)) {
        None | Some(0) => base.to_owned(),
        Some(k) => format!("{base}-child{k}"),
    }
}

/// One running mapping.
pub struct Player {
    pub source: StreamEventSource,
    stream_arn: String,
    region: String,
    function_arn: String,
    /// The on-failure queue's URL.
    destination: Option<String>,
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    invoker: Invoker,
    rollover_at: Option<u64>,
    /// Every batch done is delivered once more ([`REPEAT_ENV`]).
    repeat: bool,
}

/// What one invocation's answer means for its batch, by Lambda's rules.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Done,
    /// The function reported failures; the first of them is at this index of the batch,
    /// and the records before it are done.
    FailedFrom(usize),
    /// A function error, or a failure report Lambda cannot read: the whole batch failed.
    Error,
}

/// A part of a batch still to deliver, and how many invocations of it failed so far.
type Pending = (Range<usize>, u32);

impl Player {
    pub fn new(
        source: StreamEventSource,
        stack: &Stack,
        clients: &crate::bootstrap::Clients,
        invoker: Invoker,
    ) -> Result<Self, String> {
        let stream_arn =
            stack.resolve(&source.stream).map_err(|err| format!("the stream of table {}: {err}", source.table))?;
        let destination = match &source.on_failure {
            None => None,
            Some(queue) => {
                Some(stack.physical.get(queue).ok_or(format!("queue {queue} does not exist"))?.reference.clone())
            }
        };
        let function_arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            stack.region,
            crate::LOCAL_ACCOUNT_ID,
            stack.physical_name(&source.function, false)
        );
        Ok(Self {
            stream_arn,
            region: stack.region.clone(),
            function_arn,
            destination,
            streams: clients.streams.clone(),
            sqs: clients.sqs.clone(),
            invoker,
            rollover_at: None,
            repeat: false,
            source,
        })
    }

    /// Delivers every batch the function succeeded on once more ([`REPEAT_ENV`]).
    pub fn with_repeat(mut self, repeat: bool) -> Self {
        self.repeat = repeat;
        self
    }

    /// Presents a new child shard every `records` records (see the module's doc).
    pub fn with_rollover(mut self, records: Option<u64>) -> Self {
        self.rollover_at = records.filter(|n| *n > 0);
        self
    }

    /// Plays forever; an error reading the stream (e.g. moto is down) is logged and the
    /// read retried after a pause, from the position already reached.
    pub async fn run(self) {
        tracing::info!(function = %self.source.binary, table = %self.source.table, "reading stream");
        let mut reader = None;
        loop {
            if let Err(err) = self.play(&mut reader).await {
                tracing::warn!(table = %self.source.table, error = %err, "stream read failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn play(&self, reader: &mut Option<Reader>) -> Result<(), String> {
        if reader.is_none() {
            *reader = Some(Reader::open(self).await?);
        }
        let reader = reader.as_mut().expect("opened");
        loop {
            let (shard, batch) = match reader.next_batch(self).await? {
                Next::Batch(shard, batch) => (shard, batch),
                Next::WindowEnded => {
                    if let Some(window) = reader.window.take() {
                        self.close_window(&window).await;
                    }
                    continue;
                }
            };
            if let Some(secs) = self.source.tumbling_window_secs {
                let start = window_start(batch[0].created, secs);
                if let Some(open) = reader.window.take_if(|w| w.shard != shard || w.start != start) {
                    self.close_window(&open).await;
                }
                reader.window.get_or_insert_with(|| Window::open(&shard, start, secs));
            }
            self.deliver(&shard, &batch, reader.window.as_mut()).await?;
        }
    }

    /// The final invocation of `window` (no records, `isFinalInvokeForWindow`), repeated
    /// until it succeeds with a `state`: Lambda holds the shard until then. Its state is
    /// then dropped.
    async fn close_window(&self, window: &Window) {
        let event = window.event(&[], &self.stream_arn, true);
        let mut failures = 0;
        loop {
            match self.invoker.invoke(&self.source.binary, &event).await {
                Ok(result) if returned_state(&result).is_some() => return,
                Ok(_) => tracing::info!(function = %self.source.binary, "final invocation answered no state"),
                Err(InvokeError::Unreachable(reason)) => {
                    tracing::warn!(function = %self.source.binary, %reason, "invoke endpoint unreachable");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(err) => tracing::info!(function = %self.source.binary, error = %err, "final invocation failed"),
            }
            failures += 1;
            tokio::time::sleep(Duration::from_millis(100).min(POLL * failures)).await;
        }
    }

    /// Delivers `batch` (all from `shard`, and all in `window` if there is one) until every
    /// record is done.
    async fn deliver(
        &self,
        shard: &str,
        batch: &[StreamRecord],
        mut window: Option<&mut Window>,
    ) -> Result<(), String> {
        let mut plan: VecDeque<Pending> = VecDeque::from([(0..batch.len(), 0)]);
        while let Some((range, failures)) = plan.pop_front() {
            let range = self.give_up_expired(shard, batch, range, failures).await?;
            if range.is_empty() {
                continue;
            }
            match self.attempt(&batch[range.clone()], window.as_deref_mut()).await {
                Attempt::Done if self.repeat => {
                    // At-least-once: the same records again; the function must take them.
                    let again = self.attempt(&batch[range.clone()], window.as_deref_mut()).await;
                    tracing::info!(function = %self.source.binary, records = range.len(), ?again, "batch delivered twice");
                }
                Attempt::Done => {}
                Attempt::FailedFrom(first) => {
                    let rest = range.start + first..range.end;
                    self.retry_or_give_up(&mut plan, shard, batch, (rest, failures + 1), false).await?;
                }
                Attempt::Error if self.source.bisect_on_error && range.len() > 1 => {
                    // Splitting does not count against the retry quota: each half starts afresh.
                    let middle = range.start + range.len() / 2;
                    plan.push_front((middle..range.end, 0));
                    plan.push_front((range.start..middle, 0));
                }
                Attempt::Error => self.retry_or_give_up(&mut plan, shard, batch, (range, failures + 1), true).await?,
            }
        }
        Ok(())
    }

    async fn retry_or_give_up(
        &self,
        plan: &mut VecDeque<Pending>,
        shard: &str,
        batch: &[StreamRecord],
        (range, failures): Pending,
        function_error: bool,
    ) -> Result<(), String> {
        if self.source.max_retry_attempts.is_some_and(|max| failures > max) {
            let condition = Condition::RetryAttemptsExhausted;
            return self.give_up(shard, &batch[range], condition, failures, function_error).await;
        }
        tracing::info!(function = %self.source.binary, records = range.len(), failures, "retrying");
        tokio::time::sleep(Duration::from_millis(100).min(POLL * failures)).await;
        plan.push_front((range, failures));
        Ok(())
    }

    /// Gives up on the records of `range` older than `MaximumRecordAgeInSeconds` (a
    /// prefix: records are in time order); returns the rest.
    async fn give_up_expired(
        &self,
        shard: &str,
        batch: &[StreamRecord],
        range: Range<usize>,
        failures: u32,
    ) -> Result<Range<usize>, String> {
        let Some(max_age) = self.source.max_record_age_secs else { return Ok(range) };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let expired =
            batch[range.clone()].iter().take_while(|r| now.as_secs_f64() - r.created > max_age as f64).count();
        if expired > 0 {
            let records = &batch[range.start..range.start + expired];
            self.give_up(shard, records, Condition::RecordAgeExceeded, failures, false).await?;
        }
        Ok(range.start + expired..range.end)
    }

    /// Sends the on-failure record of `records` to the destination (if any): they are done.
    async fn give_up(
        &self,
        shard: &str,
        records: &[StreamRecord],
        condition: Condition,
        invocations: u32,
        function_error: bool,
    ) -> Result<(), String> {
        tracing::warn!(function = %self.source.binary, records = records.len(), ?condition, "giving up on records");
        let Some(queue) = &self.destination else { return Ok(()) };
        let failed = FailedBatch {
            records,
            shard_id: shard,
            stream_arn: &self.stream_arn,
            function_arn: &self.function_arn,
            condition,
            invocations,
            function_error,
        };
        let body = on_failure_record(&failed).to_string();
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(())
    }

    /// Invokes the function once with `records`. An unreachable endpoint is waited out
    /// (it is not the function's failure, and Lambda does not count it either). In a
    /// tumbling window the answer must have a `state`, which the next invocation gets.
    async fn attempt(&self, records: &[StreamRecord], mut window: Option<&mut Window>) -> Attempt {
        let event = match &window {
            Some(window) => window.event(records, &self.stream_arn, false),
            None => json!({"Records": records.iter().map(|r| &r.event).collect::<Vec<_>>()}),
        };
        loop {
            let result = match self.invoker.invoke(&self.source.binary, &event).await {
                Ok(result) => result,
                Err(InvokeError::Unreachable(reason)) => {
                    tracing::warn!(function = %self.source.binary, %reason, "invoke endpoint unreachable");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(err) => {
                    tracing::info!(function = %self.source.binary, error = %err, records = records.len(), "batch failed");
                    return Attempt::Error;
                }
            };
            let attempt =
                if self.source.report_batch_item_failures { failed_from(&result, records) } else { Attempt::Done };
            let Some(window) = window.as_deref_mut() else { return attempt };
            let Some(state) = returned_state(&result) else {
                tracing::info!(function = %self.source.binary, records = records.len(), "answer has no state: batch failed");
                return Attempt::Error;
            };
            if attempt != Attempt::Error {
                // A partial failure's state stands for the records it reports done.
                if state.to_string().len() > STATE_LIMIT {
                    // Lambda would end the window early; the player carries the state on.
                    tracing::warn!(function = %self.source.binary, "window state above 1 MB");
                }
                window.state = state.clone();
            }
            return attempt;
        }
    }
}

/// Reads a `{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}` answer:
/// Lambda retries from the lowest reported sequence number.
fn failed_from(result: &Value, records: &[StreamRecord]) -> Attempt {
    let batch = records.iter().map(|r| r.sequence_number.clone()).collect();
    match reported_failures(result, &batch) {
        None => Attempt::Error,
        Some(failed) => match records.iter().position(|r| failed.contains(&r.sequence_number)) {
            None => Attempt::Done,
            Some(first) => Attempt::FailedFrom(first),
        },
    }
}

/// The read position in moto's one shard, the records read but not yet batched (only
/// those that pass the mapping's filters), and the tumbling window open, if any.
struct Reader {
    base_shard: String,
    start: u128,
    iterator: Option<String>,
    pending: VecDeque<StreamRecord>,
    /// The index after the last record read, filtered or not.
    read_to: u128,
    window: Option<Window>,
}

/// What the reader has next for the function.
enum Next {
    Batch(String, Vec<StreamRecord>),
    /// The open window's time is up (with all its records delivered), or its shard ended.
    WindowEnded,
}

impl Reader {
    async fn open(player: &Player) -> Result<Self, String> {
        let described = player.streams.describe_stream().stream_arn(&player.stream_arn).send().await.map_err(sdk)?;
        let shard = described.stream_description().and_then(|d| d.shards().first()).ok_or("the stream has no shard")?;
        let base_shard = shard.shard_id().unwrap_or_default().to_owned();
        let start = shard
            .sequence_number_range()
            .and_then(|r| r.starting_sequence_number())
            .and_then(|s| s.parse().ok())
            .ok_or("the shard has no starting sequence number")?;
        let kind =
            if player.source.from_trim_horizon { ShardIteratorType::TrimHorizon } else { ShardIteratorType::Latest };
        let iterator = player
            .streams
            .get_shard_iterator()
            .stream_arn(&player.stream_arn)
            .shard_id(&base_shard)
            .shard_iterator_type(kind)
            .send()
            .await
            .map_err(sdk)?
            .shard_iterator;
        Ok(Self { base_shard, start, iterator, pending: VecDeque::new(), read_to: 0, window: None })
    }

    /// Reads once; returns whether the stream had new records (filtered or not).
    async fn read(&mut self, player: &Player) -> Result<bool, String> {
        let Some(iterator) = &self.iterator else { return Ok(false) };
        let out = player.streams.get_records().shard_iterator(iterator).limit(READ_LIMIT).send().await.map_err(sdk)?;
        let any = !out.records().is_empty();
        for record in out.records() {
            let record = StreamRecord::from_sdk(record, self.start, &player.region, &player.stream_arn)
                .ok_or("a stream record without a sequence number")?;
            self.read_to = self.read_to.max(record.index + 1);
            if passes(&player.source.filters, &record.event) {
                self.pending.push_back(record);
            }
        }
        if let Some(next) = out.next_shard_iterator {
            self.iterator = Some(next);
        }
        Ok(any)
    }

    fn shard_of(&self, player: &Player, record: &StreamRecord) -> String {
        shard_id(&self.base_shard, player.rollover_at, record.index)
    }

    /// The shard of a record and, with a tumbling window, the start of its window: a
    /// batch holds records of one group.
    fn group_of(&self, player: &Player, record: &StreamRecord) -> (String, Option<u64>) {
        let window = player.source.tumbling_window_secs.map(|secs| window_start(record.created, secs));
        (self.shard_of(player, record), window)
    }

    /// Whether the open window is over: its time is up, or the stream has moved on to
    /// another shard (the window's shard ended).
    fn window_ended(&self, player: &Player) -> bool {
        let Some(window) = &self.window else { return false };
        let moved_on =
            self.read_to > 0 && shard_id(&self.base_shard, player.rollover_at, self.read_to - 1) != window.shard;
        window.ended() || moved_on
    }

    /// Waits for a first record, then gathers up to `BatchSize` records of its shard (and
    /// tumbling window) for at most `MaximumBatchingWindowInSeconds`; a batch ends early
    /// where its shard or window does. While no record waits, an open window that is
    /// over ends.
    async fn next_batch(&mut self, player: &Player) -> Result<Next, String> {
        while self.pending.is_empty() {
            if !self.read(player).await? {
                if self.window_ended(player) {
                    return Ok(Next::WindowEnded);
                }
                tokio::time::sleep(POLL).await;
            }
        }
        let group = self.group_of(player, &self.pending[0]);
        let deadline = Instant::now() + Duration::from_secs(player.source.batching_window_secs);
        loop {
            let size = player.source.batch_size;
            let same_group = self.pending.iter().take(size).take_while(|r| self.group_of(player, r) == group).count();
            let group_ended = same_group < self.pending.len().min(size);
            if same_group == size || group_ended || Instant::now() >= deadline {
                return Ok(Next::Batch(group.0, self.pending.drain(..same_group).collect()));
            }
            if !self.read(player).await? {
                tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
            }
        }
    }
}

fn sdk<E: std::error::Error + 'static>(err: aws_sdk_dynamodbstreams::error::SdkError<E>) -> String {
    aws_sdk_dynamodbstreams::error::DisplayErrorContext(err).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<StreamRecord> {
        (0..n)
            .map(|i| StreamRecord {
                index: i as u128,
                sequence_number: format!("{}", 100 + i),
                created: 0.0,
                event: json!({}),
            })
            .collect()
    }

    #[test]
    fn given_reported_failures_when_read_then_retry_starts_at_the_lowest() {
        let batch = records(4);
        let answer = json!({"batchItemFailures": [{"itemIdentifier": "103"}, {"itemIdentifier": "101"}]});
        assert_eq!(failed_from(&answer, &batch), Attempt::FailedFrom(1));
        assert_eq!(failed_from(&json!({"batchItemFailures": []}), &batch), Attempt::Done);
        assert_eq!(failed_from(&json!({}), &batch), Attempt::Done);
        assert_eq!(failed_from(&json!({"batchItemFailures": [{"itemIdentifier": ""}]}), &batch), Attempt::Error);
    }

    #[test]
    fn given_a_rollover_when_records_pass_it_then_they_come_from_child_shards() {
        assert_eq!(shard_id("shardId-1", None, 10_000), "shardId-1");
        assert_eq!(shard_id("shardId-1", Some(3), 2), "shardId-1");
        assert_eq!(shard_id("shardId-1", Some(3), 3), "shardId-1-child1");
        assert_eq!(shard_id("shardId-1", Some(3), 7), "shardId-1-child2");
    }
}
