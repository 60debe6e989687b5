//! Tumbling windows (`TumblingWindowInSeconds`), as Lambda plays them for a stream:
//! the event gains the window, the state the function returned last in it, the shard
//! and the stream; the function must answer with a `state`; and when the window ends,
//! one final invocation (`isFinalInvokeForWindow`, no records) hands it the last state,
//! which is then dropped.
//!
//! Field names are those `aws_lambda_events::time_window::TimeWindowProperties` reads
//! (`window.start`/`end` as RFC 3339 UTC, `state`, `shardId`, `eventSourceARN`,
//! `isFinalInvokeForWindow`, `isWindowTerminatedEarly`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::StreamRecord;

/// Lambda's limit on a window's state, per shard (1 MB).
pub const STATE_LIMIT: usize = 1024 * 1024;

/// The start (epoch seconds) of the window a record created at `created` belongs to:
/// windows are aligned to multiples of their length since the epoch.
pub fn window_start(created: f64, secs: u64) -> u64 {
    (created.max(0.0) as u64) / secs * secs
}

/// The window open on one shard, and the state the function returned last in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub shard: String,
    /// Epoch seconds.
    pub start: u64,
    pub secs: u64,
    pub state: Value,
}

impl Window {
    /// A window opens with an empty state.
    pub fn open(shard: &str, start: u64, secs: u64) -> Self {
        Self { shard: shard.to_owned(), start, secs, state: json!({}) }
    }

    pub fn end(&self) -> u64 {
        self.start + self.secs
    }

    /// Whether the window's end has passed on the clock.
    pub fn ended(&self) -> bool {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() >= self.end()
    }

    /// The event of one invocation in this window (the final one has no records).
    pub fn event(&self, records: &[StreamRecord], stream_arn: &str, final_invoke: bool) -> Value {
        let at = |secs: u64| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
        json!({
            "Records": records.iter().map(|r| &r.event).collect::<Vec<_>>(),
            "window": {"start": at(self.start), "end": at(self.end())},
            "state": self.state,
            "shardId": self.shard,
            "eventSourceARN": stream_arn,
            "isFinalInvokeForWindow": final_invoke,
            "isWindowTerminatedEarly": false,
        })
    }
}

/// The `state` of a function's answer; `None` when it has none, which Lambda counts as a
/// failed invocation.
pub fn returned_state(result: &Value) -> Option<&Value> {
    result.as_object()?.get("state")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_record_times_when_windowed_then_windows_align_to_multiples_of_their_length() {
        assert_eq!(window_start(1_607_497_475.0, 120), 1_607_497_440, "07:04:35 is in 07:04:00-07:06:00");
        assert_eq!(window_start(1_767_225_600.0, 900), 1_767_225_600);
        assert_eq!(window_start(1_767_225_600.9, 2), 1_767_225_600);
        assert_eq!(window_start(1_767_225_601.0, 2), 1_767_225_600);
        assert_eq!(window_start(1_767_225_602.0, 2), 1_767_225_602);
    }

    #[test]
    fn given_a_window_when_its_event_is_built_then_it_has_the_time_window_properties() {
        let mut window = Window::open("shardId-1", 1_767_225_600, 900);
        window.state = json!({"count": "2"});
        let record =
            StreamRecord { index: 0, sequence_number: "100".into(), created: 0.0, event: json!({"eventID": "e"}) };
        let event = window.event(&[record], "arn:stream", false);
        assert_eq!(
            event,
            json!({
                "Records": [{"eventID": "e"}],
                "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:15:00Z"},
                "state": {"count": "2"},
                "shardId": "shardId-1",
                "eventSourceARN": "arn:stream",
                "isFinalInvokeForWindow": false,
                "isWindowTerminatedEarly": false,
            })
        );
        assert_eq!(window.event(&[], "arn:stream", true)["Records"], json!([]));
    }

    #[test]
    fn given_a_window_event_when_a_rust_function_reads_it_then_aws_lambda_events_takes_it() {
        use aws_lambda_events::dynamodb::TimeWindowEvent;
        let mut window = Window::open("shardId-1", 1_767_225_600, 900);
        window.state = json!({"count": "2"});
        let record = StreamRecord {
            index: 0,
            sequence_number: "100".into(),
            created: 1_767_225_600.0,
            event: json!({
                "eventID": "e", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1", "eventSourceARN": "arn:stream",
                "dynamodb": {"ApproximateCreationDateTime": 1_767_225_600.0, "Keys": {"pk": {"S": "a"}},
                    "SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            }),
        };
        for (records, last) in [(vec![record], false), (vec![], true)] {
            let event: TimeWindowEvent = serde_json::from_value(window.event(&records, "arn:stream", last)).unwrap();
            let properties = event.time_window_properties;
            assert_eq!(properties.shard_id.as_deref(), Some("shardId-1"));
            assert_eq!(properties.event_source_arn.as_deref(), Some("arn:stream"));
            assert_eq!(properties.state.get("count").map(String::as_str), Some("2"));
            assert_eq!(properties.is_final_invoke_for_window, last);
            assert_eq!((properties.window.end - properties.window.start).num_seconds(), 900);
            assert_eq!(event.dynamo_db_event.records.len(), records.len());
        }
    }

    #[test]
    fn given_answers_when_read_then_only_one_with_a_state_property_has_a_state() {
        assert_eq!(returned_state(&json!({"state": {}, "batchItemFailures": []})), Some(&json!({})));
        assert_eq!(returned_state(&json!({"batchItemFailures": []})), None);
        assert_eq!(returned_state(&json!(null)), None);
    }
}
