//! Invoking a function through the Lambda Invoke API that `cargo lambda watch` serves
//! (`POST /2015-03-31/functions/<name>/invocations`), as API Gateway and the SQS
//! event-source mappings invoke Lambdas in AWS.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("invoke endpoint unreachable: {0}")]
    Unreachable(String),
    /// The function ran and failed (Lambda's `X-Amz-Function-Error`, or a non-2xx answer).
    #[error("function error: {0}")]
    Function(Value),
    #[error("function returned a body that is not JSON: {0}")]
    NotJson(String),
    /// No answer within the function's timeout: Lambda ends such an invocation and counts
    /// it as failed (`Task timed out`), whether the function hangs or its process died
    /// (`cargo lambda watch` never answers an invocation whose instance was killed).
    #[error("task timed out after {0:?}")]
    TimedOut(Duration),
}

impl InvokeError {
    /// The `errorMessage` of a function error, e.g. `Unauthorized` from an authorizer.
    pub fn error_message(&self) -> Option<&str> {
        match self {
            Self::Function(value) => value["errorMessage"].as_str(),
            _ => None,
        }
    }
}

/// Invocations of one function that may wait in `cargo lambda watch` at once. Its queue
/// per function holds 100, and a request arriving at a full queue blocks the queue map
/// while holding its lock, so no instance can take the next request: the watch deadlocks
/// (cargo-lambda 1.9.2, `RequestCache::upsert`). Beyond this, requests wait here instead.
const MAX_PENDING_PER_FUNCTION: usize = 64;

/// A client of one Invoke API endpoint.
#[derive(Debug, Clone)]
pub struct Invoker {
    base: String,
    timeout: Duration,
    http: reqwest::Client,
    pending:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>>>>,
}

impl Invoker {
    /// `base` is e.g. `http://127.0.0.1:9000`. `timeout` bounds one invocation (API
    /// Gateway's integration timeout is 29 s).
    pub fn new(base: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().expect("HTTP client");
        Self { base: base.trim_end_matches('/').to_owned(), timeout, http, pending: Default::default() }
    }

    /// The gate that bounds pending invocations of `function`.
    fn gate(&self, function: &str) -> std::sync::Arc<tokio::sync::Semaphore> {
        let mut gates = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(function.to_owned())
            .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_PER_FUNCTION)))
            .clone()
    }

    /// Invokes `function` synchronously with `event`, returning its JSON result.
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Value, InvokeError> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let _turn = self.gate(function).acquire_owned().await.map_err(|e| InvokeError::Unreachable(e.to_string()))?;
        let failure = |e: reqwest::Error| match e.is_timeout() {
            true => InvokeError::TimedOut(self.timeout),
            false => InvokeError::Unreachable(e.to_string()),
        };
        let response = self.http.post(url).json(event).send().await.map_err(failure)?;
        let failed = !response.status().is_success() || response.headers().contains_key("x-amz-function-error");
        let body = response.bytes().await.map_err(failure)?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| InvokeError::NotJson(String::from_utf8_lossy(&body).into_owned()))?;
        if failed || (value.get("errorType").is_some() && value.get("errorMessage").is_some()) {
            return Err(InvokeError::Function(value));
        }
        Ok(value)
    }
}

/// Starts `instances` instances of every function of `template` before tests or a load
/// test need them: `instances` concurrent invocations of each function's sample event
/// (`events/<binary>.json`), one function at a time. `cargo lambda watch` starts an
/// instance with `cargo run`, which takes seconds under load; a request that waits for
/// one would otherwise meet the gateway's 29 s integration timeout. Answers are ignored:
/// samples may well be refusals.
pub async fn warm(
    invoker: &Invoker,
    template: &crate::template::Template,
    events: &std::path::Path,
    instances: usize,
) -> Result<usize, String> {
    let mut started = 0;
    for (id, _) in template.of_type("AWS::Serverless::Function") {
        let binary = template.function_binary(id).map_err(|e| e.to_string())?;
        let path = events.join(format!("{binary}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let event: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let calls = (0..instances).map(|_| invoker.invoke(&binary, &event));
        for result in futures::future::join_all(calls).await {
            if let Err(InvokeError::Unreachable(reason)) = result {
                return Err(format!("{binary}: {reason}"));
            }
        }
        started += instances;
    }
    Ok(started)
}
