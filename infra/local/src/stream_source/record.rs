//! Stream records as Lambda hands them to a function, and the on-failure record Lambda
//! sends to a destination when it gives up on a batch.
//!
//! The event record is AWS's (`eventVersion` 1.1, `ApproximateCreationDateTime` in epoch
//! seconds, images in DynamoDB JSON), built from what GetRecords returned: moto's own
//! record fields (`eventVersion` 1.0, its `awsRegion`) are not passed through.

use std::{collections::HashMap, time::SystemTime};

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use base64::Engine;
use serde_json::{Map, Value, json};

/// One record read from the stream, in the shape the function receives.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    /// The record's position in moto's one shard (its sequence number minus the shard's
    /// starting sequence number), which decides the shard it is presented from.
    pub index: u128,
    pub sequence_number: String,
    /// `ApproximateCreationDateTime`, in epoch seconds.
    pub created: f64,
    /// The Lambda event record (`Records[i]`).
    pub event: Value,
}

impl StreamRecord {
    /// `start` is the shard's starting sequence number; `None` when the record has none.
    pub fn from_sdk(record: &Record, start: u128, region: &str, stream_arn: &str) -> Option<Self> {
        let data = record.dynamodb()?;
        let sequence_number = data.sequence_number()?.to_owned();
        let index = sequence_number.parse::<u128>().ok()?.checked_sub(start)?;
        let created = data.approximate_creation_date_time().map_or(0.0, |t| t.as_secs_f64());
        let mut dynamodb = Map::new();
        dynamodb.insert("ApproximateCreationDateTime".into(), json!(created));
        for (name, image) in [("Keys", data.keys()), ("NewImage", data.new_image()), ("OldImage", data.old_image())] {
            if let Some(image) = image {
                dynamodb.insert(name.into(), item_json(image));
            }
        }
        dynamodb.insert("SequenceNumber".into(), json!(sequence_number));
        dynamodb.insert("SizeBytes".into(), json!(data.size_bytes()));
        dynamodb.insert("StreamViewType".into(), json!(data.stream_view_type().map(|v| v.as_str())));
        let event = json!({
            "eventID": record.event_id(),
            "eventName": record.event_name().map(|n| n.as_str()),
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "dynamodb": dynamodb,
            "eventSourceARN": stream_arn,
        });
        Some(Self { index, sequence_number, created, event })
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect())
}

/// An attribute value in DynamoDB JSON (`{"S": "x"}`, `{"N": "1"}`, binary as base64).
fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| base64::engine::general_purpose::STANDARD.encode(b);
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": b64(b)}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": item_json(m)}),
        AttributeValue::L(l) => json!({"L": l.iter().map(attribute_json).collect::<Vec<_>>()}),
        AttributeValue::Null(n) => json!({"NULL": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        _ => Value::Null,
    }
}

/// Why Lambda gave up on a batch (the on-failure record's `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

/// Where a batch came from and how it failed, for [`on_failure_record`].
pub struct FailedBatch<'a> {
    pub records: &'a [StreamRecord],
    pub shard_id: &'a str,
    pub stream_arn: &'a str,
    pub function_arn: &'a str,
    pub condition: Condition,
    pub invocations: u32,
    /// Whether the last invocation was a function error (not a reported partial failure).
    pub function_error: bool,
}

/// The invocation record Lambda sends to an on-failure destination for a DynamoDB
/// stream: the batch's shard and sequence range, never its records.
pub fn on_failure_record(batch: &FailedBatch) -> Value {
    let (first, last) = (batch.records.first(), batch.records.last());
    let arrival = |r: Option<&StreamRecord>| {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(r.map_or(0.0, |r| r.created));
        humantime::format_rfc3339_seconds(at).to_string()
    };
    json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": batch.function_arn,
            "condition": match batch.condition {
                Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
                Condition::RecordAgeExceeded => "RecordAgeExceeded",
            },
            "approximateInvokeCount": batch.invocations,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": if batch.function_error { json!("Unhandled") } else { Value::Null },
        },
        "version": "1.0",
        "timestamp": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        "DDBStreamBatchInfo": {
            "shardId": batch.shard_id,
            "startSequenceNumber": first.map(|r| r.sequence_number.as_str()),
            "endSequenceNumber": last.map(|r| r.sequence_number.as_str()),
            "approximateArrivalOfFirstRecord": arrival(first),
            "approximateArrivalOfLastRecord": arrival(last),
            "batchSize": batch.records.len(),
            "streamArn": batch.stream_arn,
        }
    })
}
