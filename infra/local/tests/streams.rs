//! The DynamoDB stream event-source player on a small test template
//! (`fixtures/streams.yaml`): batch size and window, filter criteria, retry from a
//! reported failure, bisect on error, the on-failure record after retries, one batch in
//! flight in order, the shard rollover relabel, and tumbling windows (the shard, window
//! and state in the event, the state carried, the final invocation). The functions are played by a fake
//! Lambda Invoke API here; the table, its stream and the queue are real (moto or
//! LocalStack at `AWS_ENDPOINT_URL`, started by `make test`).

mod support;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use ballot_local::{bootstrap::Clients, invoke::Invoker, stack::Stack, stream_source::Player, template::Template};
use serde_json::{Value, json};

/// One invocation a fake function received: the `pk` and `SequenceNumber` of each record,
/// the event's other top-level fields (a tumbling window's), and when it arrived.
#[derive(Debug, Clone)]
struct Batch {
    pks: Vec<String>,
    sequence_numbers: Vec<String>,
    window: serde_json::Map<String, Value>,
    at: std::time::SystemTime,
}

impl Batch {
    fn is_final(&self) -> bool {
        self.window["isFinalInvokeForWindow"] == true
    }

    /// `window.start`, in epoch seconds.
    fn window_start(&self) -> u64 {
        epoch(&self.window["window"]["start"])
    }

    fn count_in(&self) -> u64 {
        self.window["state"]["count"].as_str().map_or(0, |n| n.parse().unwrap())
    }
}

fn epoch(rfc3339: &Value) -> u64 {
    let at = humantime::parse_rfc3339(rfc3339.as_str().unwrap()).unwrap();
    at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A tumbling-window function's answer: the records it has seen in the window so far, as
/// a state of strings (what `aws_lambda_events`' `TimeWindowEventResponseProperties` holds).
fn counted(batch: &Batch) -> Value {
    json!({"state": {"count": (batch.count_in() + batch.pks.len() as u64).to_string()}})
}

#[derive(Default)]
struct Seen {
    batches: HashMap<String, Vec<Batch>>,
    in_flight: HashMap<String, usize>,
    most_in_flight: HashMap<String, usize>,
}

/// How each fake function answers a batch (after `seen` recorded it).
fn answer(function: &str, batch: &Batch, earlier: &[Batch]) -> support::Answer {
    let error = (Some("Unhandled"), json!({"errorType": "Boom", "errorMessage": "boom"}));
    match function {
        "batcher" | "filtered" => (None, json!({})),
        // Fails PART#3 and PART#5 the first time it sees them.
        "partial" if earlier.is_empty() => {
            let failed: Vec<Value> = batch
                .pks
                .iter()
                .zip(&batch.sequence_numbers)
                .filter(|(pk, _)| *pk == "PART#3" || *pk == "PART#5")
                .map(|(_, seq)| json!({"itemIdentifier": seq}))
                .collect();
            (None, json!({"batchItemFailures": failed}))
        }
        "partial" => (None, json!({"batchItemFailures": []})),
        "bisect" if batch.pks.iter().any(|pk| pk.contains("poison")) => error,
        "bisect" => (None, json!({})),
        "exhaust" | "roller" => error,
        "windowed" | "stateful" | "closer" => (None, counted(batch)),
        // Answers its first batch without a state (but with a valid failure report).
        "stateless" if earlier.is_empty() => (None, json!({"batchItemFailures": []})),
        "stateless" => (None, counted(batch)),
        other => panic!("no function {other}"),
    }
}

struct Local {
    stack: Stack,
    template: Template,
    clients: Clients,
    invoke_url: String,
    seen: Arc<Mutex<Seen>>,
    served: Vec<String>,
}

async fn start() -> Local {
    let (template, stack, clients) = support::fixture_stack("streams.yaml", "st").await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let recorder = Arc::clone(&seen);
    let invoke_url = support::fake_invoke_api(Arc::new(move |function: String, event: Value| {
        let seen = Arc::clone(&recorder);
        Box::pin(async move {
            let records = event["Records"].as_array().cloned().unwrap_or_default();
            let batch = Batch {
                pks: records.iter().map(|r| r["dynamodb"]["Keys"]["pk"]["S"].as_str().unwrap().to_owned()).collect(),
                sequence_numbers: records
                    .iter()
                    .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned())
                    .collect(),
                window: event
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| *k != "Records")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                at: std::time::SystemTime::now(),
            };
            let reply = {
                let mut seen = seen.lock().unwrap();
                let now = *seen.in_flight.entry(function.clone()).and_modify(|n| *n += 1).or_insert(1);
                let most = seen.most_in_flight.entry(function.clone()).or_default();
                *most = (*most).max(now);
                let earlier = seen.batches.entry(function.clone()).or_default();
                let reply = answer(&function, &batch, earlier);
                earlier.push(batch);
                reply
            };
            // Held a moment, so that a second batch in flight would overlap this one.
            tokio::time::sleep(Duration::from_millis(30)).await;
            *seen.lock().unwrap().in_flight.get_mut(&function).unwrap() -= 1;
            reply
        })
    }))
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = ballot_local::serve(&template, &stack, &clients, &invoke_url, listener).unwrap();
    let served = gateway.served_event_sources().to_vec();
    Local { stack, template, clients, invoke_url, seen, served }
}

impl Local {
    async fn put(&self, pk: &str, attributes: &[(&str, &str)]) {
        let mut request = self
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.stack.physical["Table"].reference)
            .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()));
        for (name, value) in attributes {
            request = request.item(*name, aws_sdk_dynamodb::types::AttributeValue::S((*value).to_owned()));
        }
        request.send().await.unwrap();
    }

    async fn put_all(&self, pks: &[&str]) {
        for pk in pks {
            self.put(pk, &[]).await;
        }
    }

    fn batches(&self, function: &str) -> Vec<Vec<String>> {
        let seen = self.seen.lock().unwrap();
        seen.batches.get(function).into_iter().flatten().map(|b| b.pks.clone()).collect()
    }

    fn invocations(&self, function: &str) -> Vec<Batch> {
        self.seen.lock().unwrap().batches.get(function).cloned().unwrap_or_default()
    }

    /// Waits (20 s at most) until `function`'s invocations satisfy `done`.
    async fn wait_for_invocations(&self, function: &str, done: impl Fn(&[Batch]) -> bool) -> Vec<Batch> {
        for _ in 0..400 {
            let invocations = self.invocations(function);
            if done(&invocations) {
                return invocations;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{function} received {:#?}", self.invocations(function));
    }

    fn sequence_numbers(&self, function: &str) -> Vec<Vec<String>> {
        let seen = self.seen.lock().unwrap();
        seen.batches.get(function).into_iter().flatten().map(|b| b.sequence_numbers.clone()).collect()
    }

    /// Waits (20 s at most) until `function` has received `records` records in all.
    async fn wait_for_records(&self, function: &str, records: usize) -> Vec<Vec<String>> {
        for _ in 0..400 {
            let batches = self.batches(function);
            if batches.iter().map(Vec::len).sum::<usize>() >= records {
                return batches;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{function} received {:?}", self.batches(function));
    }

    /// Waits until `count` on-failure records are on the destination queue, and takes them.
    async fn failure_records(&self, count: usize) -> Vec<Value> {
        let queue = &self.stack.physical["FailQueue"].reference;
        let mut records = Vec::new();
        for _ in 0..20 {
            let out = self
                .clients
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            records.extend(out.messages().iter().map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap()));
            if records.len() >= count {
                return records;
            }
        }
        panic!("only {} on-failure records: {records:?}", records.len());
    }
}

fn owned(pks: &[&str]) -> Vec<String> {
    pks.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn given_writes_within_the_window_when_played_then_batches_of_batch_size_in_order_one_at_a_time() {
    let local = start().await;
    assert!(local.served.contains(&"DynamoDB Table stream -> batcher".to_owned()), "{:?}", local.served);
    local.put_all(&["BATCH#1", "BATCH#2", "BATCH#3", "BATCH#4", "BATCH#5", "BATCH#6", "BATCH#7"]).await;
    let batches = local.wait_for_records("batcher", 7).await;
    assert_eq!(
        batches,
        [owned(&["BATCH#1", "BATCH#2", "BATCH#3"]), owned(&["BATCH#4", "BATCH#5", "BATCH#6"]), owned(&["BATCH#7"])],
        "BatchSize 3; the last record waits out the 1 s window alone"
    );
    let sequence: Vec<u128> = local.sequence_numbers("batcher").concat().iter().map(|s| s.parse().unwrap()).collect();
    assert!(sequence.windows(2).all(|w| w[0] < w[1]), "in stream order: {sequence:?}");
    assert_eq!(local.seen.lock().unwrap().most_in_flight["batcher"], 1, "one batch in flight");
    let plain = local.invocations("batcher");
    assert!(plain.iter().all(|b| b.window.is_empty()), "no tumbling window: `Records` alone");
}

#[tokio::test]
async fn given_filter_criteria_when_played_then_only_matching_records_arrive() {
    let local = start().await;
    local.put("FILT#1", &[("kind", "ballot")]).await; // filter 1
    local.put("FILT#2", &[("kind", "tally")]).await; // neither
    local.put("FILT#3", &[("kind", "other"), ("flag", "x")]).await; // filter 2
    local.put("FILT#4", &[("kind", "other")]).await; // neither: no flag
    local.put("FILT#1", &[("kind", "ballot"), ("more", "y")]).await; // MODIFY: neither
    local.put("OTHER#1", &[("kind", "ballot")]).await; // neither: another prefix
    local.put("FILT#5", &[("kind", "ballot")]).await; // filter 1
    let batches = local.wait_for_records("filtered", 3).await;
    assert_eq!(batches.concat(), owned(&["FILT#1", "FILT#3", "FILT#5"]));
}

#[tokio::test]
async fn given_reported_failures_when_played_then_the_batch_is_retried_from_the_lowest() {
    let local = start().await;
    local.put_all(&["PART#1", "PART#2", "PART#3", "PART#4", "PART#5"]).await;
    let batches = local.wait_for_records("partial", 8).await;
    assert_eq!(
        batches,
        [owned(&["PART#1", "PART#2", "PART#3", "PART#4", "PART#5"]), owned(&["PART#3", "PART#4", "PART#5"])],
        "PART#3 and PART#5 failed: the records before PART#3 are done"
    );
}

#[tokio::test]
async fn given_a_poison_record_when_bisecting_then_halves_until_it_alone_goes_to_the_destination() {
    let local = start().await;
    local.put_all(&["BIS#1", "BIS#2", "BIS#3-poison", "BIS#4"]).await;
    let failures = local.failure_records(1).await;
    let batches = local.wait_for_records("bisect", 11).await;
    assert_eq!(
        batches,
        [
            owned(&["BIS#1", "BIS#2", "BIS#3-poison", "BIS#4"]),
            owned(&["BIS#1", "BIS#2"]),
            owned(&["BIS#3-poison", "BIS#4"]),
            owned(&["BIS#3-poison"]),
            owned(&["BIS#3-poison"]),
            owned(&["BIS#4"]),
        ],
        "halves until one record, then MaximumRetryAttempts 1 for it; BIS#4 after it"
    );
    let poison_seq = &local.sequence_numbers("bisect")[3][0];
    let info = &failures[0]["DDBStreamBatchInfo"];
    assert_eq!(
        (info["batchSize"].as_u64(), info["startSequenceNumber"].as_str()),
        (Some(1), Some(poison_seq.as_str()))
    );
    assert_eq!(info["endSequenceNumber"], info["startSequenceNumber"]);
    assert_eq!(failures[0]["requestContext"]["approximateInvokeCount"], 2);
}

#[tokio::test]
async fn given_a_failing_function_when_retries_run_out_then_the_on_failure_record_and_the_stream_moves_on() {
    let local = start().await;
    local.put_all(&["FAIL#1", "FAIL#2"]).await;
    let failures = local.failure_records(1).await;
    let batches = local.wait_for_records("exhaust", 6).await;
    assert_eq!(batches, vec![owned(&["FAIL#1", "FAIL#2"]); 3], "the first try and MaximumRetryAttempts 2");
    let record = &failures[0];
    let seqs = &local.sequence_numbers("exhaust")[0];
    let stream_arn = &local.stack.physical["Table"].attributes["StreamArn"];
    assert_eq!(record["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert!(record["requestContext"]["functionArn"].as_str().unwrap().ends_with("-ExhaustFunction"));
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    let info = &record["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 2);
    assert_eq!(
        (info["startSequenceNumber"].as_str(), info["endSequenceNumber"].as_str()),
        (Some(&*seqs[0]), Some(&*seqs[1]))
    );
    assert_eq!(info["streamArn"].as_str(), Some(stream_arn.as_str()));
    assert!(info["shardId"].as_str().unwrap().starts_with("shardId-"));
    assert!(info["approximateArrivalOfFirstRecord"].as_str().unwrap().ends_with('Z'));
    assert!(record.get("Records").is_none(), "the records themselves are not sent");
    // The stream moved on: a later record is delivered.
    local.put("FAIL#3", &[]).await;
    let batches = local.wait_for_records("exhaust", 7).await;
    assert_eq!(batches.last().unwrap(), &owned(&["FAIL#3"]));
}

#[tokio::test]
async fn given_a_rollover_when_records_pass_it_then_batches_end_at_the_parent_and_the_child_names_the_rest() {
    let local = start().await;
    let source = local.template.stream_event_sources().unwrap().into_iter().find(|s| s.binary == "roller").unwrap();
    let invoker = Invoker::new(&local.invoke_url, Duration::from_secs(3));
    let player = Player::new(source, &local.stack, &local.clients, invoker).unwrap().with_rollover(Some(3));
    tokio::spawn(player.run());
    local.put_all(&["ROLL#1", "ROLL#2", "ROLL#3", "ROLL#4", "ROLL#5"]).await;
    let failures = local.failure_records(2).await;
    assert_eq!(
        local.batches("roller"),
        [owned(&["ROLL#1", "ROLL#2", "ROLL#3"]), owned(&["ROLL#4", "ROLL#5"])],
        "no batch spans the rollover after 3 records"
    );
    let shards: Vec<&str> = failures.iter().map(|f| f["DDBStreamBatchInfo"]["shardId"].as_str().unwrap()).collect();
    let sizes: Vec<u64> = failures.iter().map(|f| f["DDBStreamBatchInfo"]["batchSize"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [3, 2]);
    assert_eq!(shards[1], format!("{}-child1", shards[0]), "the rest comes from the parent's child");
}

/// Checks a tumbling-window function's invocations (all answered by [`counted`]): each
/// gets the state the previous one in its window (same shard and start) returned, a new
/// window starts from `{}`, and a final invocation closes one.
fn assert_state_carried(invocations: &[Batch]) {
    let mut open: Option<((String, u64), u64)> = None;
    for (i, batch) in invocations.iter().enumerate() {
        let key = (batch.window["shardId"].as_str().unwrap().to_owned(), batch.window_start());
        let expected = match &open {
            Some((current, count)) if *current == key => *count,
            _ => 0,
        };
        if expected == 0 {
            assert_eq!(batch.window["state"], json!({}), "invocation {i} opens a window: {invocations:#?}");
        }
        assert_eq!(batch.count_in(), expected, "invocation {i}'s state: {invocations:#?}");
        open = if batch.is_final() { None } else { Some((key, expected + batch.pks.len() as u64)) };
    }
}

fn play_disabled(local: &Local, binary: &str, rollover: Option<u64>) {
    let source = local.template.stream_event_sources().unwrap().into_iter().find(|s| s.binary == binary).unwrap();
    let invoker = Invoker::new(&local.invoke_url, Duration::from_secs(3));
    let player = Player::new(source, &local.stack, &local.clients, invoker).unwrap().with_rollover(rollover);
    tokio::spawn(player.run());
}

fn records_in(invocations: &[Batch]) -> usize {
    invocations.iter().map(|b| b.pks.len()).sum()
}

#[tokio::test]
async fn given_a_tumbling_window_when_batches_come_from_one_shard_then_each_names_it_and_a_rollover_the_child() {
    let local = start().await;
    play_disabled(&local, "windowed", Some(3));
    local.put_all(&["WIN#1", "WIN#2", "WIN#3", "WIN#4", "WIN#5"]).await;
    let invocations = local.wait_for_invocations("windowed", |b| records_in(b) >= 5).await;
    let stream_arn = &local.stack.physical["Table"].attributes["StreamArn"];
    let parent = invocations[0].window["shardId"].as_str().unwrap().to_owned();
    assert!(parent.starts_with("shardId-"), "moto's shard id: {parent}");
    for batch in &invocations {
        let expected = if batch.pks.iter().any(|pk| pk == "WIN#4" || pk == "WIN#5") {
            format!("{parent}-child1")
        } else {
            parent.clone()
        };
        assert_eq!(batch.window["shardId"], json!(expected), "{invocations:#?}");
        assert_eq!(batch.window["eventSourceARN"].as_str(), Some(stream_arn.as_str()));
        assert_eq!(batch.window["isWindowTerminatedEarly"], false);
        let end = epoch(&batch.window["window"]["end"]);
        assert_eq!((batch.window_start() % 900, end - batch.window_start()), (0, 900), "a 900 s window on the clock");
    }
    assert!(invocations.iter().all(|b| !(b.pks.contains(&"WIN#3".to_owned()) && b.pks.contains(&"WIN#4".to_owned()))));
    // The parent's end closes its window: a final invocation before the child's first batch,
    // whose window starts afresh.
    let first_child = invocations.iter().position(|b| b.pks.contains(&"WIN#4".to_owned())).unwrap();
    let closing = &invocations[first_child - 1];
    assert!(closing.is_final() && closing.pks.is_empty(), "{invocations:#?}");
    assert_eq!(closing.window["shardId"], json!(parent));
    assert_eq!(invocations[first_child].window["state"], json!({}));
    assert_state_carried(&invocations);
}

#[tokio::test]
async fn given_a_tumbling_window_when_batches_follow_then_each_gets_the_state_the_last_one_returned() {
    let local = start().await;
    local.put_all(&["STATE#1", "STATE#2", "STATE#3", "STATE#4"]).await;
    let invocations = local.wait_for_invocations("stateful", |b| records_in(b) >= 4).await;
    assert!(invocations.iter().filter(|b| !b.pks.is_empty()).count() >= 2, "BatchSize 2: {invocations:#?}");
    assert!(invocations.iter().any(|b| b.count_in() > 0), "a later batch got the state: {invocations:#?}");
    assert_state_carried(&invocations);
}

#[tokio::test]
async fn given_a_tumbling_window_when_an_answer_has_no_state_then_the_batch_failed_and_is_retried() {
    let local = start().await;
    local.put_all(&["NOSTATE#1", "NOSTATE#2"]).await;
    let invocations = local.wait_for_invocations("stateless", |b| b.len() >= 2).await;
    assert_eq!(invocations[0].pks, owned(&["NOSTATE#1", "NOSTATE#2"]));
    assert_eq!(invocations[1].pks, invocations[0].pks, "an empty batchItemFailures without state is a failure");
    assert_eq!(invocations[1].window["state"], json!({}), "the failed answer set no state");
    // The retry's state is carried on to the next batch.
    local.put("NOSTATE#3", &[]).await;
    let invocations = local.wait_for_invocations("stateless", |b| records_in(b) >= 5).await;
    let last = invocations.last().unwrap();
    assert_eq!(last.pks, owned(&["NOSTATE#3"]));
    if last.window_start() == invocations[1].window_start() {
        assert_eq!(last.window["state"], json!({"count": "2"}));
    }
}

#[tokio::test]
async fn given_a_short_tumbling_window_when_its_time_is_up_then_a_final_invocation_gets_its_state() {
    let local = start().await;
    local.put_all(&["CLOSE#1", "CLOSE#2"]).await;
    // Every window that got records is closed by a final invocation.
    let closed = |invocations: &[Batch]| {
        let mut windows: Vec<u64> = invocations.iter().filter(|b| !b.is_final()).map(Batch::window_start).collect();
        windows.dedup();
        records_in(invocations) >= 2
            && windows.iter().all(|w| invocations.iter().any(|b| b.is_final() && b.window_start() == *w))
    };
    let invocations = local.wait_for_invocations("closer", closed).await;
    assert_state_carried(&invocations);
    for last in invocations.iter().filter(|b| b.is_final()) {
        assert!(last.pks.is_empty(), "the final invocation has no records");
        assert_eq!(last.window["isWindowTerminatedEarly"], false);
        let end = epoch(&last.window["window"]["end"]);
        assert_eq!((last.window_start() % 2, end - last.window_start()), (0, 2));
        let delivered: usize =
            invocations.iter().filter(|b| b.window_start() == last.window_start()).map(|b| b.pks.len()).sum();
        assert_eq!(last.count_in(), delivered as u64, "it gets the window's last state");
        let arrived = last.at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(arrived >= end as f64, "sent after the window's end ({end}), at {arrived}");
    }
    // The state was dropped: a later record opens a new window from `{}`.
    local.put("CLOSE#3", &[]).await;
    let invocations = local.wait_for_invocations("closer", |b| records_in(b) >= 3).await;
    let next = invocations.iter().find(|b| b.pks == owned(&["CLOSE#3"])).unwrap();
    assert_eq!(next.window["state"], json!({}));
    assert!(next.window_start() > invocations.iter().filter(|b| b.is_final()).map(Batch::window_start).max().unwrap());
}
