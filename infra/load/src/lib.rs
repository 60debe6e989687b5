//! What the load tools share.

use std::time::Duration;

use ballot_tests::{client, required_env};
use serde_json::Value;

/// p50 and p99 in milliseconds (nearest rank).
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let at = |p: usize| samples[((samples.len() * p).div_ceil(100)).max(1) - 1].as_secs_f64() * 1e3;
    (at(50), at(99))
}

/// The AWS proxy's meter (`infra/aws_proxy.py`), read or reset.
pub struct Meter {
    url: String,
}

/// What the meter counted between two readings.
pub struct Spent {
    pub write_units: f64,
    pub read_units: f64,
    pub dynamodb_calls: f64,
    pub sqs_messages: f64,
}

impl Spent {
    /// Per one of `n`.
    pub fn per(&self, n: usize) -> Self {
        let n = n as f64;
        Self {
            write_units: self.write_units / n,
            read_units: self.read_units / n,
            dynamodb_calls: self.dynamodb_calls / n,
            sqs_messages: self.sqs_messages / n,
        }
    }

    /// All of `spent` together.
    pub fn sum(spent: &[Spent]) -> Self {
        let sum = |f: fn(&Spent) -> f64| spent.iter().map(f).sum();
        Self {
            write_units: sum(|s| s.write_units),
            read_units: sum(|s| s.read_units),
            dynamodb_calls: sum(|s| s.dynamodb_calls),
            sqs_messages: sum(|s| s.sqs_messages),
        }
    }

    /// What this costs beyond `base`.
    pub fn minus(&self, base: &Self) -> Self {
        Self {
            write_units: self.write_units - base.write_units,
            read_units: self.read_units - base.read_units,
            dynamodb_calls: self.dynamodb_calls - base.dynamodb_calls,
            sqs_messages: self.sqs_messages - base.sqs_messages,
        }
    }

    /// The figures as table cells.
    pub fn row(&self) -> String {
        let cells = [self.write_units, self.read_units, self.dynamodb_calls, self.sqs_messages];
        cells.map(|x| format!("{x:.2}")).join(" | ")
    }
}

impl Meter {
    /// The meter of the proxy the stack's functions reach AWS through (`AWS_ENDPOINT_URL`).
    pub fn of_the_stack() -> Self {
        Self { url: required_env("AWS_ENDPOINT_URL") }
    }

    /// Everything it counted since the last reset, as `GET /__proxy/meter` answers.
    pub async fn read(&self) -> Value {
        client().get(format!("{}/__proxy/meter", self.url)).send().await.unwrap().json().await.unwrap()
    }

    pub async fn reset(&self) {
        client().post(format!("{}/__proxy/meter/reset", self.url)).send().await.unwrap();
    }

    /// What the calls since the last reset cost.
    pub async fn spent(&self) -> Spent {
        let meter = self.read().await;
        // The table's calls, not the stream reads of the local event source player.
        let stream_reads = ["DescribeStream", "GetShardIterator", "GetRecords", "ListStreams"];
        let dynamodb_calls = meter["calls"]["dynamodb"].as_object().map_or(0.0, |ops| {
            ops.iter().filter(|(op, _)| !stream_reads.contains(&op.as_str())).filter_map(|(_, n)| n.as_f64()).sum()
        });
        let sqs = &meter["calls"]["sqs"];
        Spent {
            write_units: meter["dynamodb"]["write_units"].as_f64().unwrap_or(0.0),
            read_units: meter["dynamodb"]["read_units"].as_f64().unwrap_or(0.0),
            dynamodb_calls,
            sqs_messages: sqs["SendMessage"].as_f64().unwrap_or(0.0) + sqs["SendMessageBatch"].as_f64().unwrap_or(0.0),
        }
    }
}
