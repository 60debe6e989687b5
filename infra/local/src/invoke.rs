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

/// A client of one Invoke API endpoint.
#[derive(Debug, Clone)]
pub struct Invoker {
    base: String,
    http: reqwest::Client,
}

impl Invoker {
    /// `base` is e.g. `http://127.0.0.1:9000`. `timeout` bounds one invocation (API
    /// Gateway's integration timeout is 29 s).
    pub fn new(base: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().expect("HTTP client");
        Self { base: base.trim_end_matches('/').to_owned(), http }
    }

    /// Invokes `function` synchronously with `event`, returning its JSON result.
    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Value, InvokeError> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let response =
            self.http.post(url).json(event).send().await.map_err(|e| InvokeError::Unreachable(e.to_string()))?;
        let failed = !response.status().is_success() || response.headers().contains_key("x-amz-function-error");
        let body = response.bytes().await.map_err(|e| InvokeError::Unreachable(e.to_string()))?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| InvokeError::NotJson(String::from_utf8_lossy(&body).into_owned()))?;
        if failed || (value.get("errorType").is_some() && value.get("errorMessage").is_some()) {
            return Err(InvokeError::Function(value));
        }
        Ok(value)
    }
}
