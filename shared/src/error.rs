//! The one error type of ballot's HTTP functions and its RFC 9457 rendering.
//!
//! Invariant: a response body never carries more than [`ApiError::detail`], which for
//! an internal error ([`ballot_core::Error::Internal`]) is a fixed sentence. The cause of an internal error is logged
//! (under the request id the response also carries), never returned.

use ballot_core::Error;
pub use ballot_core::FieldError;
use http::StatusCode;
use serde::{Deserialize, Serialize};

/// Prefix of every problem `type`; the slug after it is stable API surface.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:ballot:problem:";

/// Media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Everything that can go wrong in a request, as the client may see it: what the edge
/// refuses itself (the body, the media type, the token, the method, `If-Match`), and the
/// domain's refusals and failures ([`ballot_core::Error`]), each mapped here, in one
/// place, to a status, a problem type and a sentence.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// serde_json's syntax error, with its line and column.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A full sentence for the client.
    #[error("{0}")]
    BadRequest(String),
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A change needs `If-Match`.
    #[error("precondition required")]
    PreconditionRequired,
    /// The CAPTCHA check is on and the request has no token its verifier accepted.
    #[error("captcha failed")]
    CaptchaFailed,
    /// A refusal by the rules, or a failure of a port.
    #[error(transparent)]
    Domain(#[from] Error),
}

impl ApiError {
    /// Wraps any failure the client must not see the details of.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Domain(Error::internal(err))
    }

    /// The domain error this is; what the edge refuses itself becomes an internal error
    /// (an adapter that speaks HTTP types failed in a way the rules do not name).
    pub fn into_domain(self) -> Error {
        match self {
            Self::Domain(err) => err,
            other => Error::internal(other.to_string()),
        }
    }

    /// Invalid fields, each named.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::Domain(Error::Validation(errors))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::CaptchaFailed => StatusCode::FORBIDDEN,
            Self::Domain(err) => match err {
                Error::Validation(_) => StatusCode::BAD_REQUEST,
                Error::Unauthenticated => StatusCode::UNAUTHORIZED,
                Error::Forbidden | Error::ResultsHidden => StatusCode::FORBIDDEN,
                Error::NotFound => StatusCode::NOT_FOUND,
                Error::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
                Error::Conflict(_) => StatusCode::CONFLICT,
                Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
                Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The stable slug of the problem `type`.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed-json",
            Self::BadRequest(_) => "bad-request",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::PreconditionRequired => "precondition-required",
            Self::CaptchaFailed => "captcha-failed",
            Self::Domain(err) => match err {
                Error::Validation(_) => "validation-failed",
                Error::Unauthenticated => "unauthorized",
                Error::Forbidden => "forbidden",
                Error::NotFound => "not-found",
                Error::PreconditionFailed => "precondition-failed",
                Error::ResultsHidden => "results-hidden",
                Error::Conflict(_) => "conflict",
                Error::Unprocessable(_) => "unprocessable",
                Error::TooManyRequests { .. } => "throttled",
                Error::Unavailable(_) => "unavailable",
                Error::Internal(_) => "internal",
            },
        }
    }

    /// The human explanation returned to the client; never the cause of an internal error.
    pub fn detail(&self) -> String {
        match self {
            Self::MethodNotAllowed => "This resource does not support that method.".into(),
            Self::PreconditionRequired => "Send If-Match with the ETag of the version you are changing.".into(),
            Self::UnsupportedMediaType => "Send the body as application/json.".into(),
            Self::CaptchaFailed => {
                "Solve the CAPTCHA and send its token in the Captcha-Token header; a token works once.".into()
            }
            Self::PayloadTooLarge { limit } => format!("The request body exceeds the limit of {limit} bytes."),
            Self::MalformedJson(message) => format!("The body is not valid JSON: {message}."),
            Self::BadRequest(sentence) => sentence.clone(),
            Self::Domain(err) => match err {
                Error::Validation(_) => "The request has invalid fields; see errors.".into(),
                Error::Unauthenticated => "A valid bearer token is required.".into(),
                Error::Forbidden => "You are not allowed to do this.".into(),
                Error::NotFound => "No such resource.".into(),
                Error::PreconditionFailed => {
                    "The resource has changed since you read it: read it again and resend with its current ETag.".into()
                }
                Error::ResultsHidden => "This poll does not show its results to you yet.".into(),
                Error::TooManyRequests { retry_after_secs } => {
                    format!("Too many requests; retry after {retry_after_secs} s.")
                }
                Error::Internal(_) => "The server failed to handle this request.".into(),
                Error::Conflict(sentence) | Error::Unprocessable(sentence) | Error::Unavailable(sentence) => {
                    sentence.clone()
                }
            },
        }
    }

    /// Renders the problem document for this error.
    pub fn to_problem(&self, request_id: Option<&str>) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("{PROBLEM_TYPE_PREFIX}{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                Self::Domain(Error::Validation(errors)) => errors.clone(),
                _ => Vec::new(),
            },
            request_id: request_id.map(str::to_owned),
        }
    }

    /// Seconds a client should wait before retrying, when that is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Domain(Error::TooManyRequests { retry_after_secs }) => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// An RFC 9457 problem details document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_internal_error_when_rendered_then_the_cause_is_not_in_the_problem() {
        let err = ApiError::internal("ResourceNotFoundException: table ballot-prod not found");
        let body = serde_json::to_string(&err.to_problem(Some("req-1"))).unwrap();
        assert!(!body.contains("ballot-prod"), "{body}");
        assert!(!body.contains("ResourceNotFound"), "{body}");
        let problem: Problem = serde_json::from_str(&body).unwrap();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.kind, "urn:ballot:problem:internal");
        assert_eq!(problem.request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn given_validation_errors_when_rendered_then_each_field_is_listed() {
        let err = ApiError::validation(vec![FieldError::new("#/question", "must not be empty")]);
        let problem = err.to_problem(None);
        assert_eq!(problem.status, 400);
        assert_eq!(problem.title, "Bad Request");
        assert_eq!(problem.errors, [FieldError::new("#/question", "must not be empty")]);
    }

    #[test]
    fn given_a_conflict_when_rendered_then_the_detail_is_a_sentence() {
        let problem = ApiError::from(Error::Conflict("The poll is closed.".into())).to_problem(None);
        assert_eq!(problem.detail, "The poll is closed.");
        assert_eq!(problem.kind, "urn:ballot:problem:conflict");
    }
}
