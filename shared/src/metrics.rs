//! The product's own figures as CloudWatch embedded metric format (EMF): each
//! [`record`] writes one JSON line to stdout, which CloudWatch Logs turns into metrics
//! with no call from the function and nothing to wait for.
//!
//! Every metric is in the [`NAMESPACE`] namespace with the dimension `Stack` (the stack's
//! name, from `BALLOT_STACK`; the function's name when unset, as CloudWatch refuses an
//! empty one), so the figures of several stacks in one account stay apart; the failures
//! of consumers are also per `Function` (their alarms roll a canary back). There is no
//! unbounded dimension (no poll, user or connection id). The line also
//! carries `service`, `version`, `function` and the invocation's `trace_id`, like every
//! log line. docs/operations.md lists the metrics. No crate is used: the line is a few
//! fields of serde_json, written without a lock beyond stdout's own, and costs no cold start.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::telemetry;

/// The CloudWatch namespace of ballot's metrics.
pub const NAMESPACE: &str = "Ballot";

/// What ballot counts. The names are the metric names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A first ballot was written (cast-vote, 201).
    VotesCast,
    /// A ballot was changed (cast-vote, 200 with other picks).
    VotesChanged,
    /// Ballot writes and poll changes in one batch of the tally.
    TallyBatchSize,
    /// Milliseconds from the oldest write of a tally batch reaching the stream to its fold.
    TallyLag,
    /// Webhook deliveries the receiver accepted (2xx).
    WebhookDeliveriesSent,
    /// Webhook deliveries that failed for good (their last attempt failed).
    WebhookDeliveriesFailed,
    /// Webhooks disabled after failing for good.
    WebhooksDisabled,
    /// A spent refresh token was used again: its family was revoked.
    RefreshTokenReuse,
    /// Logins refused by a rate limit (429), before any password was checked.
    LoginsRefused,
    /// Frames posted to live watchers.
    LivePushesSent,
    /// Live connections found gone (410) and forgotten.
    LiveConnectionsDropped,
    /// Authorizer invocations that failed on a dependency (API Gateway answers 500); its
    /// refusals (401) are Lambda errors by API Gateway's design, so they can't be alarmed on.
    AuthorizerFailures,
    /// Messages or stream batches a consumer failed (returned for a retry); Lambda counts
    /// none of them as errors under `ReportBatchItemFailures`. Per `Function`.
    MessagesFailed,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Self::VotesCast => "VotesCast",
            Self::VotesChanged => "VotesChanged",
            Self::TallyBatchSize => "TallyBatchSize",
            Self::TallyLag => "TallyLag",
            Self::WebhookDeliveriesSent => "WebhookDeliveriesSent",
            Self::WebhookDeliveriesFailed => "WebhookDeliveriesFailed",
            Self::WebhooksDisabled => "WebhooksDisabled",
            Self::RefreshTokenReuse => "RefreshTokenReuse",
            Self::LoginsRefused => "LoginsRefused",
            Self::LivePushesSent => "LivePushesSent",
            Self::LiveConnectionsDropped => "LiveConnectionsDropped",
            Self::AuthorizerFailures => "AuthorizerFailures",
            Self::MessagesFailed => "MessagesFailed",
        }
    }

    /// Whether the metric is per `Function` as well as per `Stack`.
    pub fn per_function(self) -> bool {
        self == Self::MessagesFailed
    }

    /// CloudWatch's unit of the metric.
    pub fn unit(self) -> &'static str {
        match self {
            Self::TallyLag => "Milliseconds",
            _ => "Count",
        }
    }

    /// Every metric, for docs and tests.
    pub const ALL: [Metric; 13] = [
        Self::VotesCast,
        Self::VotesChanged,
        Self::TallyBatchSize,
        Self::TallyLag,
        Self::WebhookDeliveriesSent,
        Self::WebhookDeliveriesFailed,
        Self::WebhooksDisabled,
        Self::RefreshTokenReuse,
        Self::LoginsRefused,
        Self::LivePushesSent,
        Self::LiveConnectionsDropped,
        Self::AuthorizerFailures,
        Self::MessagesFailed,
    ];
}

/// False only in a build made with `BALLOT_NO_METRICS` set: `make bench`'s A/B variant,
/// which measures what the metrics cost a cold start.
const ENABLED: bool = option_env!("BALLOT_NO_METRICS").is_none();

/// Records one value of each of `values` now (one EMF line). Nothing is written for an
/// empty list.
pub fn record(values: &[(Metric, f64)]) {
    if !ENABLED || values.is_empty() {
        return;
    }
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let stack = std::env::var("BALLOT_STACK").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| function.clone());
    let line = emf_line(values, now_ms(), &stack, &function, &telemetry::current_trace_id());
    let mut out = std::io::stdout().lock();
    // A lost metric line must never fail the request it describes.
    let _ = writeln!(out, "{line}");
}

/// Adds `n` to a count (nothing for 0).
pub fn count(metric: Metric, n: usize) {
    if n > 0 {
        record(&[(metric, n as f64)]);
    }
}

/// The EMF document of `values` at `timestamp_ms`: one directive for the metrics per
/// `Stack`, one for those per `Stack` and `Function`.
pub fn emf_line(values: &[(Metric, f64)], timestamp_ms: u64, stack: &str, function: &str, trace_id: &str) -> Value {
    let definition = |metric: &Metric| json!({"Name": metric.name(), "Unit": metric.unit()});
    let mut directives = Vec::new();
    for (per_function, dimensions) in [(false, json!([["Stack"]])), (true, json!([["Stack", "Function"]]))] {
        let metrics: Vec<Value> =
            values.iter().filter(|(m, _)| m.per_function() == per_function).map(|(m, _)| definition(m)).collect();
        if !metrics.is_empty() {
            directives.push(json!({"Namespace": NAMESPACE, "Dimensions": dimensions, "Metrics": metrics}));
        }
    }
    let mut line = Map::new();
    line.insert("_aws".into(), json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}));
    line.insert("Stack".into(), json!(stack));
    line.insert("Function".into(), json!(function));
    for (metric, value) in values {
        line.insert(metric.name().into(), json!(value));
    }
    line.insert("service".into(), json!(telemetry::SERVICE));
    line.insert("version".into(), json!(telemetry::VERSION));
    line.insert("function".into(), json!(function));
    line.insert("trace_id".into(), json!(trace_id));
    Value::Object(line)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_values_then_the_line_is_emf_with_one_bounded_dimension() {
        let line = emf_line(
            &[(Metric::VotesCast, 1.0), (Metric::TallyLag, 250.0)],
            1_700_000_000_000,
            "ballot",
            "cast-vote",
            "1-a-b",
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "Ballot");
        assert_eq!(directive["Dimensions"], json!([["Stack"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "VotesCast", "Unit": "Count"}, {"Name": "TallyLag", "Unit": "Milliseconds"}])
        );
        // Every dimension and metric the directive names is a member of the line.
        assert_eq!(line["Stack"], "ballot");
        assert_eq!(line["VotesCast"], 1.0);
        assert_eq!(line["TallyLag"], 250.0);
        assert_eq!(line["trace_id"], "1-a-b");
        assert_eq!(line["service"], "ballot");
        assert_eq!(line["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1, "no per-function metric");
    }

    #[test]
    fn given_a_per_function_metric_then_it_has_a_directive_with_the_function_dimension() {
        let line = emf_line(&[(Metric::MessagesFailed, 2.0)], 1, "ballot", "ballot-PollEventsFunction-x", "");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Stack", "Function"]]));
        assert_eq!(line["Function"], "ballot-PollEventsFunction-x");
        assert_eq!(directive["Metrics"], json!([{"Name": "MessagesFailed", "Unit": "Count"}]));
    }

    #[test]
    fn given_every_metric_then_names_are_unique_and_pascal_case() {
        let names: std::collections::BTreeSet<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        assert!(names.iter().all(|n| n.chars().next().is_some_and(|c| c.is_ascii_uppercase())));
    }
}
