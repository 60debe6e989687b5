//! Liveness, and with `?deep=true` reachability of the table and the events queue.

use std::time::Duration;

use lambda_http::{
    Body, Request, Response,
    http::{HeaderValue, header::LINK},
};
use serde::Serialize;
use shared::{
    ApiError,
    aws::{AwsClients, DisplayErrorContext, sqs::types::QueueAttributeName},
    config::Config,
    http,
};

/// How long a deep check may take in all; a dependency slower than this counts as down.
const DEEP_CHECK_BUDGET: Duration = Duration::from_secs(3);

/// A dependency the deep check can reach or not. Errors stay in the log.
pub trait Probe {
    fn database(&self) -> impl Future<Output = Result<(), String>> + Send;
    fn queue(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// The real probes: a `DescribeTable` and a `GetQueueAttributes`, the least each
/// dependency can answer (and all the function's IAM policy allows).
pub struct Probes {
    aws: AwsClients,
    table: String,
    queue_url: String,
}

impl Probes {
    pub fn new(aws: &AwsClients, config: &Config) -> Self {
        Self { aws: aws.clone(), table: config.table_name.clone(), queue_url: config.events_queue_url.clone() }
    }
}

impl Probe for Probes {
    async fn database(&self) -> Result<(), String> {
        let call = self.aws.dynamodb.describe_table().table_name(&self.table).send();
        call.await.map(drop).map_err(|e| DisplayErrorContext(e).to_string())
    }

    async fn queue(&self) -> Result<(), String> {
        let call = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn);
        call.send().await.map(drop).map_err(|e| DisplayErrorContext(e).to_string())
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Health {
    status: &'static str,
    version: &'static str,
    links: Links,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Checks>,
}

/// Where this API describes itself, as references relative to the health URL (RFC 3986),
/// so they hold behind any stage or base path: `docs` → `…/v1/docs`.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Links {
    /// The interactive reference (RFC 8631 `service-doc`).
    docs: &'static str,
    /// The OpenAPI document (RFC 8631 `service-desc`).
    openapi: &'static str,
}

const LINKS: Links = Links { docs: "docs", openapi: "openapi.json" };

/// The same links as a `Link` header (RFC 8288, RFC 8631).
const LINK_HEADER: &str = r#"<docs>; rel="service-doc", <openapi.json>; rel="service-desc""#;

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Checks {
    database: &'static str,
    queue: &'static str,
}

/// `GET /v1/health[?deep=true]`: 200 `{"status":"ok","version"}`; deep adds `checks`, and
/// answers 503 problem+json naming the unreachable dependencies (never their errors).
pub async fn health(probes: &impl Probe, req: &Request) -> Result<Response<Body>, ApiError> {
    let deep = match http::query(req, "deep").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::BadRequest("The deep parameter must be true or false.".into())),
    };
    let checks = if deep { Some(deep_check(probes).await?) } else { None };
    let health = Health { status: "ok", version: env!("CARGO_PKG_VERSION"), links: LINKS, checks };
    let mut response = http::json(lambda_http::http::StatusCode::OK, &health)?;
    response.headers_mut().insert(LINK, HeaderValue::from_static(LINK_HEADER));
    Ok(response)
}

async fn deep_check(probes: &impl Probe) -> Result<Checks, ApiError> {
    let checks = async { tokio::join!(probes.database(), probes.queue()) };
    let (database, queue) = tokio::time::timeout(DEEP_CHECK_BUDGET, checks)
        .await
        .unwrap_or_else(|_| (Err("timed out".into()), Err("timed out".into())));
    let mut down = Vec::new();
    for (name, result) in [("database", database), ("queue", queue)] {
        if let Err(error) = result {
            tracing::warn!(dependency = name, %error, "health check failed");
            down.push(name);
        }
    }
    if down.is_empty() {
        Ok(Checks { database: "ok", queue: "ok" })
    } else {
        Err(ApiError::Domain(ballot_core::Error::Unavailable(format!(
            "A dependency is unreachable: {}.",
            down.join(", ")
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use std::collections::HashMap;

    /// Probes that answer what the test says, so no AWS is needed here (the e2e tests
    /// run the real ones against the local stack).
    struct Fake {
        database: Result<(), String>,
        queue: Result<(), String>,
    }

    impl Probe for Fake {
        async fn database(&self) -> Result<(), String> {
            self.database.clone()
        }
        async fn queue(&self) -> Result<(), String> {
            self.queue.clone()
        }
    }

    const UP: Fake = Fake { database: Ok(()), queue: Ok(()) };

    fn sample(query: Option<(&str, &str)>) -> Request {
        let req = lambda_http::request::from_str(include_str!("../../../events/health.json")).unwrap();
        match query {
            Some((k, v)) => req.with_query_string_parameters(HashMap::from([(k.to_owned(), v.to_owned())])),
            None => req,
        }
    }

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn given_the_sample_event_when_called_then_ok_and_version() {
        let response = health(&UP, &sample(None)).await.unwrap();
        assert_eq!(response.status(), 200);
        let links = serde_json::json!({"docs": "docs", "openapi": "openapi.json"});
        assert_eq!(
            body(&response),
            serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "links": links})
        );
        assert_eq!(response.headers()[LINK], r#"<docs>; rel="service-doc", <openapi.json>; rel="service-desc""#);
    }

    #[tokio::test]
    async fn given_deep_and_everything_up_when_called_then_checks_are_listed() {
        let response = health(&UP, &sample(Some(("deep", "true")))).await.unwrap();
        assert_eq!(body(&response)["checks"], serde_json::json!({"database": "ok", "queue": "ok"}));
    }

    #[tokio::test]
    async fn given_deep_and_the_queue_down_when_called_then_503_without_the_cause() {
        let fake = Fake { database: Ok(()), queue: Err("dispatch failure: connection refused 127.0.0.1:4566".into()) };
        let err = health(&fake, &sample(Some(("deep", "true")))).await.unwrap_err();
        assert_eq!(err.status(), 503);
        let problem = serde_json::to_string(&err.to_problem(Some("r"))).unwrap();
        assert!(problem.contains("A dependency is unreachable: queue."), "{problem}");
        assert!(!problem.contains("4566") && !problem.contains("dispatch"), "{problem}");
    }

    #[tokio::test]
    async fn given_a_bad_deep_value_when_called_then_400() {
        let err = health(&UP, &sample(Some(("deep", "yes")))).await.unwrap_err();
        assert_eq!(err.status(), 400);
    }
}
