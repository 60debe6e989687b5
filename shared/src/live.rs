//! The edge of the WebSocket API's route functions (`live-*`): API Gateway invokes them
//! with an `ApiGatewayWebsocketProxyRequest`; a route with a route response sends the
//! answer's `body` to the client. Every answer is `200` with at most one frame
//! ([`ballot_core::live::Frame`]); a refusal or failure is an `error` frame carrying the
//! problem+json object the REST API would answer, never an internal detail.

use std::{future::Future, sync::Arc};

use ballot_core::live::{Frame, Request};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::ApiError;

/// One invocation of a route: the connection, the message (none for `$connect` and
/// `$disconnect`), and the whole event (headers, query string).
#[derive(Debug, Clone)]
pub struct RouteEvent {
    pub connection_id: String,
    pub request_id: String,
    pub body: Option<String>,
    pub event: Value,
}

impl RouteEvent {
    fn of(event: Value) -> Self {
        let context = &event["requestContext"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Self {
            connection_id: text(&context["connectionId"]),
            request_id: text(&context["requestId"]),
            body: event["body"].as_str().map(str::to_owned),
            event,
        }
    }

    /// The message, as one of the client frames ([`Request`]); a body that is not one is
    /// a `bad-request` naming what is expected.
    pub fn request(&self) -> Result<Request, ApiError> {
        let body = self.body.as_deref().unwrap_or_default();
        serde_json::from_str(body).map_err(|err| {
            ApiError::BadRequest(format!(
                "Send {{\"action\": \"subscribe\" | \"unsubscribe\", \"poll_id\": \"…\"}} or {{\"action\": \"ping\"}} ({err})."
            ))
        })
    }

    /// The poll of this route's frame, which must be `{"action": action, "poll_id"}` with
    /// `action` `"subscribe"` or `"unsubscribe"`; else the error frame that answers it.
    pub fn poll_of(&self, action: &str) -> Result<String, Frame> {
        match self.request() {
            Ok(Request::Subscribe { poll_id }) if action == "subscribe" => Ok(poll_id),
            Ok(Request::Unsubscribe { poll_id }) if action == "unsubscribe" => Ok(poll_id),
            Ok(_) => Err(self.error(None, ApiError::BadRequest(format!("This route takes only `{action}`.")))),
            Err(err) => Err(self.error(None, err)),
        }
    }

    /// The error frame of `err` for this request (about poll `poll_id`, if any).
    pub fn error(&self, poll_id: Option<&str>, err: impl Into<ApiError>) -> Frame {
        let err = err.into();
        if matches!(&err, ApiError::Domain(ballot_core::Error::Internal(_) | ballot_core::Error::Unavailable(_))) {
            tracing::error!(error = %err, "route failed");
        }
        let problem = serde_json::to_value(err.to_problem(Some(&self.request_id))).unwrap_or_default();
        Frame::Error { poll_id: poll_id.map(str::to_owned), problem }
    }
}

/// What a route function answers API Gateway: `statusCode` and any `headers`, and the
/// frame to send back, if any.
#[derive(Debug, Clone, Default)]
pub struct RouteAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub frame: Option<Frame>,
}

impl RouteAnswer {
    pub fn frame(frame: Frame) -> Self {
        Self { status: 200, headers: Vec::new(), frame: Some(frame) }
    }

    pub fn ok() -> Self {
        Self { status: 200, ..Self::default() }
    }

    pub fn status(status: u16) -> Self {
        Self { status, ..Self::default() }
    }

    fn to_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> =
            self.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut answer = json!({"statusCode": self.status, "headers": headers});
        if let Some(frame) = &self.frame {
            answer["body"] = Value::String(frame.to_text());
        }
        answer
    }
}

/// Runs a route function: `handler` gets each invocation.
pub async fn serve<D, F, Fut>(deps: D, handler: F) -> Result<(), lambda_runtime::Error>
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, RouteEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = RouteAnswer> + Send + 'static,
{
    let deps = Arc::new(deps);
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (deps, handler) = (Arc::clone(&deps), Arc::clone(&handler));
        let route = RouteEvent::of(event.payload);
        let span = crate::telemetry::request_span(&route.request_id, Some(&event.context));
        async move { Ok::<_, std::convert::Infallible>(handler(deps, route).await.to_json()) }.instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_refusal_then_its_frame_carries_the_rest_api_s_problem_and_no_internal_detail() {
        let route = RouteEvent::of(json!({"requestContext": {"connectionId": "c1", "requestId": "r1"}}));
        let Frame::Error { poll_id, problem } = route.error(Some("p1"), ballot_core::Error::ResultsHidden) else {
            panic!("an error frame")
        };
        assert_eq!((poll_id.as_deref(), problem["status"].as_u64()), (Some("p1"), Some(403)));
        assert_eq!(problem["type"], "urn:ballot:problem:results-hidden");
        assert_eq!(problem["request_id"], "r1");
        let Frame::Error { problem, .. } = route.error(None, ballot_core::Error::internal("table ballot-prod gone"))
        else {
            panic!("an error frame")
        };
        assert!(!problem.to_string().contains("ballot-prod"), "{problem}");
    }

    #[test]
    fn given_answers_then_they_are_lambda_proxy_answers() {
        let answer = RouteAnswer::frame(Frame::Pong).to_json();
        assert_eq!(answer["statusCode"], 200);
        assert_eq!(answer["body"], r#"{"type":"pong"}"#);
        assert!(RouteAnswer::status(401).to_json().get("body").is_none());
    }
}
