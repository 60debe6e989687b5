//! What can go wrong by the rules, and in the ports under them. The edge (`shared`'s
//! `ApiError`) maps each variant to a status and a problem type, in one place.
//!
//! Invariant: every `String` here is a full sentence a client may read; the cause of an
//! [`Error::Internal`] is for the log only.

use serde::{Deserialize, Serialize};

/// One invalid field of a request, named by a JSON Pointer into the request body
/// (the shape of RFC 9457's own example).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON Pointer as a URI fragment, e.g. `#/options/1/text`; `#` is the whole body.
    /// Empty (and not sent) for a query parameter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pointer: String,
    /// The query parameter at fault, e.g. `limit`, for errors outside the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// What is wrong with that field, for a human.
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), parameter: None, detail: detail.into() }
    }

    /// An error in query parameter `name`.
    pub fn parameter(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: String::new(), parameter: Some(name.into()), detail: detail.into() }
    }
}

/// A refusal by the rules, or a failure of a port.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request failed validation")]
    Validation(Vec<FieldError>),
    /// No valid credentials: a wrong password, a spent refresh token, a disabled account.
    #[error("authentication required")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// The caller acted on another version than the current one.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The poll's `results_visibility` hides its results from this caller for now.
    #[error("results hidden")]
    ResultsHidden,
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but cannot be processed (e.g. an idempotency key reused for another
    /// request).
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// A dependency is unavailable for now; the sentence names no internal detail.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps any failure the client must not see the details of.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }
}
