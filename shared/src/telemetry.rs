//! Structured JSON logs with `tracing`, joined to X-Ray.
//!
//! Every invocation runs inside a `request` span carrying the request id, the Lambda
//! request id, the X-Ray trace id, the function name, whether it is the cold start, and
//! the `service` and `version`; a queue consumer opens a `message` span per message (its
//! message id, and the event id when it carries an event). Each log line lists the spans
//! it was written in (`spans`, outermost first), so every line of an invocation carries
//! its ids and trace id. Never log a secret, token, password or full email.
//!
//! With `LOG_SDK_CALLS=true` (the template's `LogSdkCalls`), every AWS SDK call is a span
//! too (the SDK's own `<Service>.<Operation>` span), and each span's end is a line with
//! its `time.busy` and `time.idle`: the calls an invocation made, in it, with their times.
//! Off by default: it about doubles the lines a request writes.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::{EnvFilter, fmt, fmt::format::FmtSpan};

static COLD: AtomicBool = AtomicBool::new(true);

/// What every log line and metric names as its service.
pub const SERVICE: &str = "ballot";
/// The version of ballot this binary was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The SDK crates whose operation spans `LOG_SDK_CALLS` turns on.
const SDK_CRATES: [&str; 9] = [
    "aws_sdk_dynamodb",
    "aws_sdk_sqs",
    "aws_sdk_secretsmanager",
    "aws_sdk_scheduler",
    "aws_sdk_sesv2",
    "aws_sdk_apigatewaymanagement",
    "aws_sdk_lambda",
    "aws_sdk_codedeploy",
    "aws_sdk_dynamodbstreams",
];

/// The filter: `RUST_LOG`'s directives (else `info`), and with `sdk_calls` the SDK's
/// operation spans on top (they are `debug`).
pub fn filter(rust_log: Option<&str>, sdk_calls: bool) -> EnvFilter {
    let base = rust_log.filter(|r| !r.trim().is_empty()).unwrap_or("info");
    let mut filter = EnvFilter::try_new(base).unwrap_or_else(|_| EnvFilter::new("info"));
    if sdk_calls {
        for krate in SDK_CRATES {
            filter = filter.add_directive(format!("{krate}=debug").parse().expect("a crate name is a directive"));
        }
    }
    filter
}

/// Installs the JSON subscriber (see [`filter`]). Call once in `main`.
pub fn init() {
    let sdk_calls = std::env::var("LOG_SDK_CALLS").is_ok_and(|v| v == "true");
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), sdk_calls);
    // With SDK calls, a span's end is a line, which names the span that ended as `span`.
    let spans = if sdk_calls { FmtSpan::CLOSE } else { FmtSpan::NONE };
    // A second init (as in tests) keeps the first subscriber: that is fine.
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(sdk_calls)
        .with_span_list(true)
        .with_span_events(spans)
        .with_target(false)
        .try_init();
}

/// True for the first invocation of this process, false afterwards.
pub fn take_cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

/// The span for one invocation: `request_id` is API Gateway's (empty for queue and
/// stream events), `context` the Lambda invocation's.
pub fn request_span(request_id: &str, context: Option<&lambda_runtime::Context>) -> tracing::Span {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let lambda_request_id = context.map(|c| c.request_id.as_str()).unwrap_or_default();
    let trace_id = context.and_then(|c| c.xray_trace_id.as_deref()).map(trace_root).unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %request_id,
        lambda_request_id = %lambda_request_id,
        trace_id = %trace_id,
        function = %function,
        cold_start = take_cold_start(),
        service = SERVICE,
        version = VERSION,
    )
}

/// The span for one message of a queue batch (inside its invocation's span).
pub fn message_span(message_id: &str, event_id: Option<&str>) -> tracing::Span {
    tracing::info_span!("message", message_id = %message_id, event_id = event_id.unwrap_or_default())
}

/// The trace id of the invocation running now: the root of the `_X_AMZN_TRACE_ID` the
/// runtime sets for each invocation (empty outside one).
pub fn current_trace_id() -> String {
    std::env::var("_X_AMZN_TRACE_ID").map(|header| trace_root(&header).to_owned()).unwrap_or_default()
}

/// The root trace id of an X-Ray trace header (`Root=1-…;Parent=…;Sampled=1`), which
/// CloudWatch and X-Ray join on; a header without one is kept whole.
pub fn trace_root(header: &str) -> &str {
    header.split(';').find_map(|part| part.trim().strip_prefix("Root=")).unwrap_or(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_sdk_calls_asked_for_then_every_sdk_crate_is_at_debug_over_rust_log() {
        assert_eq!(filter(None, false).to_string(), "info");
        assert_eq!(filter(Some("warn"), false).to_string(), "warn");
        let on = filter(Some("info"), true).to_string();
        for krate in SDK_CRATES {
            assert!(on.contains(&format!("{krate}=debug")), "{on}");
        }
    }

    #[test]
    fn given_a_trace_header_then_its_root_is_the_trace_id() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(trace_root(header), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(trace_root("Parent=1;Root=1-a-b"), "1-a-b");
        assert_eq!(trace_root("1-a-b"), "1-a-b");
    }
}
