//! Structured JSON logs with `tracing`.
//!
//! Every invocation runs inside a `request` span carrying the request id, the Lambda
//! request id, the function name and whether it is the cold start, so each log line can
//! be found from the id a client reports. Never log a secret, token, password or full email.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::{EnvFilter, fmt};

static COLD: AtomicBool = AtomicBool::new(true);

/// Installs the JSON subscriber (level from `RUST_LOG`, default `info`). Call once in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (as in tests) keeps the first subscriber: that is fine.
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}

/// True for the first invocation of this process, false afterwards.
pub fn take_cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

/// The span for one invocation.
pub fn request_span(request_id: &str, lambda_request_id: &str) -> tracing::Span {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %request_id,
        lambda_request_id = %lambda_request_id,
        function = %function,
        cold_start = take_cold_start(),
    )
}
