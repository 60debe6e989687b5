//! The HTTP side of every ballot function: one runner ([`serve`]) that turns a plain
//! `async fn(Request) -> Result<Response, ApiError>` into a Lambda, and the response
//! helpers it applies.
//!
//! Invariants, for every response a function returns, success or error:
//! - the security headers of [`SECURITY_HEADERS`] are present, and `Cache-Control` is
//!   `no-store` unless the handler set its own;
//! - `Access-Control-Allow-Origin` is sent only for an `Origin` on the allowlist;
//! - a `public` response says `Vary: Accept-Encoding`: API Gateway compresses answers of
//!   1 KiB or more for clients that ask (the API's `MinimumCompressionSize`), so a shared
//!   cache must keep each encoding apart;
//! - errors are `application/problem+json` and carry the request id (also in `X-Request-Id`);
//! - a request whose token expired (the `exp` the authorizer put in its context) gets 401,
//!   even when API Gateway reuses a cached authorizer decision;
//! - a request of an API key is metered on the key before the handler runs
//!   ([`crate::api_keys::KeyMeter`]): 429 over the key's limit, 401 once it is revoked;
//! - the cause of an internal error goes to the log, never into the response.

use std::{convert::Infallible, future::Future, sync::Arc};

use http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response, request::RequestContext, service_fn};
use serde::Serialize;
use tracing::Instrument;

use crate::{
    error::{ApiError, FieldError, PROBLEM_CONTENT_TYPE},
    telemetry,
};

/// Headers added to every response.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("referrer-policy", "no-referrer"),
];

/// Response headers a browser script may read on a cross-origin response.
const EXPOSED_HEADERS: &str = "ETag, Location, Retry-After, X-Request-Id, Idempotent-Replayed";

/// Which browser origins may read responses (CORS), from `Config::cors_allowed_origins`.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    allowed: Vec<String>,
}

impl Cors {
    /// `origins` are already normalised (lower-case `scheme://host[:port]`).
    pub fn new(origins: Vec<String>) -> Self {
        Self { allowed: origins }
    }

    /// The origin to echo back, if the request's `Origin` is allowed.
    fn allow(&self, origin: Option<&str>) -> Option<HeaderValue> {
        let origin = origin?;
        self.allowed
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }
}

/// What the runner needs to know about a request to finish its response.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// API Gateway's request id (`requestContext.requestId`), else the Lambda request id.
    pub request_id: String,
    pub origin: Option<String>,
}

impl RequestMeta {
    pub fn of(req: &Request) -> Self {
        let lambda_request_id = || req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let gateway_id = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
            _ => None,
        };
        Self {
            request_id: gateway_id.filter(|id| !id.is_empty()).unwrap_or_else(lambda_request_id),
            origin: req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned),
        }
    }
}

/// What every HTTP function applies around its handler: CORS, and the meter of API keys.
#[derive(Debug, Clone)]
pub struct Edge {
    pub cors: Cors,
    pub keys: crate::api_keys::KeyMeter,
}

/// Runs an HTTP function: each invocation gets a log span (request id, function, cold
/// start), errors become problem+json, and every response is finished by [`finish`].
pub async fn serve<F, Fut>(edge: Edge, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
{
    let edge = Arc::new(edge);
    let handler = Arc::new(handler);
    lambda_http::run(service_fn(move |req: Request| {
        let edge = Arc::clone(&edge);
        let meta = RequestMeta::of(&req);
        let span = telemetry::request_span(&meta.request_id, req.lambda_context_ref());
        // API Gateway may serve a cached authorizer decision after the token expired.
        let expired = crate::identity::token_expired(&req);
        let handler = Arc::clone(&handler);
        async move {
            let work = async {
                if expired {
                    return Err(ApiError::Domain(ballot_core::Error::Unauthenticated));
                }
                edge.keys.admit(&req).await?;
                handler(req).await
            };
            let result = work.instrument(span.clone()).await;
            let cors = &edge.cors;
            let response = span.in_scope(|| {
                let response = respond(result, &meta.request_id);
                tracing::info!(status = response.status().as_u16(), "responded");
                response
            });
            Ok::<_, Infallible>(finish(response, &meta, cors))
        }
    }))
    .await
}

/// [`serve`] for a handler that takes the function's dependencies, built once per cold
/// start and shared by every invocation.
pub async fn serve_with<D, F, Fut>(edge: Edge, deps: D, handler: F) -> Result<(), lambda_http::Error>
where
    D: Send + Sync + 'static,
    F: Fn(Arc<D>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
{
    let deps = Arc::new(deps);
    serve(edge, move |req| handler(Arc::clone(&deps), req)).await
}

/// Turns a handler result into a response, logging errors at the level they deserve.
pub fn respond(result: Result<Response<Body>, ApiError>, request_id: &str) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(err) => {
            match &err {
                ApiError::Domain(ballot_core::Error::Internal(cause)) => {
                    tracing::error!(error = %cause_chain(cause.as_ref()), "request failed")
                }
                ApiError::Domain(ballot_core::Error::Unavailable(_)) => {
                    tracing::warn!(error = %err, "dependency unavailable")
                }
                _ => tracing::info!(status = err.status().as_u16(), problem = err.slug(), "request refused"),
            }
            problem(&err, request_id)
        }
    }
}

/// An error and all its sources, `: `-separated (SDK errors say little at the top level).
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Response<Body>, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(ApiError::internal)?;
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Binary(bytes))
        .map_err(ApiError::internal)
}

/// `204 No Content`.
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The problem+json response for `err`.
pub fn problem(err: &ApiError, request_id: &str) -> Response<Body> {
    let body = serde_json::to_vec(&err.to_problem(Some(request_id))).unwrap_or_default();
    let mut response = Response::new(Body::Binary(body));
    *response.status_mut() = err.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
    if let Some(seconds) = err.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if matches!(err, ApiError::Domain(ballot_core::Error::Unauthenticated)) {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Adds the headers every response carries (see the module invariants).
pub fn finish(mut response: Response<Body>, meta: &RequestMeta, cors: &Cors) -> Response<Body> {
    let headers = response.headers_mut();
    add_security_headers(headers);
    if let Ok(id) = HeaderValue::from_str(&meta.request_id) {
        headers.insert("x-request-id", id);
    }
    if !cors.allowed.is_empty() {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    let public = headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("public"));
    if public {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(origin) = cors.allow(meta.origin.as_deref()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
    }
    response
}

/// Security headers; `Cache-Control: no-store` only where the handler chose no caching,
/// and the strict CSP only where it chose none (a page that runs its own script).
pub fn add_security_headers(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        if name == header::CONTENT_SECURITY_POLICY.as_str() && headers.contains_key(name) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

/// The client's address as API Gateway saw it (`requestContext.identity.sourceIp`);
/// never a header the client could set.
pub fn source_ip(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .unwrap_or_default()
}

/// The `limit` query parameter of a listing: 1..=100, default 20.
pub fn page_limit(req: &Request) -> Result<i32, ApiError> {
    match query(req, "limit") {
        None => Ok(20),
        Some(raw) => raw.parse::<i32>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
            ApiError::Domain(ballot_core::Error::Validation(vec![FieldError::parameter(
                "limit",
                "must be a whole number from 1 to 100",
            )]))
        }),
    }
}

/// The path parameter `name` (an id): 404 when it is missing or cannot be an id, so a
/// malformed id reads like an unknown one.
pub fn path_id(req: &Request, name: &str) -> Result<String, ApiError> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .filter(|id| {
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .ok_or(ApiError::Domain(ballot_core::Error::NotFound))
}

/// The version an `If-Match` header names (`"3"`, `W/"3"` or `3`): 428 without one,
/// 400 when it is not an ETag of that form (empty included). Whether it is the current
/// version (else 412) is the use case's to say.
pub fn if_match_version(req: &Request) -> Result<u64, ApiError> {
    let raw = req.headers().get(header::IF_MATCH).ok_or(ApiError::PreconditionRequired)?;
    let malformed =
        || ApiError::BadRequest("If-Match must be the ETag of a version, as GET gave it (such as \"3\").".into());
    let raw = raw.to_str().map_err(|_| malformed())?.trim();
    let quoted = |tag: &str| tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).map(str::to_owned);
    let digits = match raw.strip_prefix("W/") {
        Some(weak) => quoted(weak),
        None => quoted(raw).or_else(|| Some(raw.to_owned())),
    }
    .unwrap_or_default();
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    digits.parse().map_err(|_| malformed())
}

/// The strong ETag of a version number.
pub fn version_etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// Whether `If-None-Match` lists `etag` (or `*`).
pub fn none_match(req: &Request, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*"))
}

/// A representation whose ETag is `etag`, cached as `cache_control`: `304 Not Modified`
/// when the request's `If-None-Match` names it, else `body()`; both carry both headers.
pub fn conditional(
    req: &Request,
    etag: &str,
    cache_control: &str,
    body: impl FnOnce() -> Result<Response<Body>, ApiError>,
) -> Result<Response<Body>, ApiError> {
    let response = if none_match(req, etag) {
        let mut response = no_content();
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        body()?
    };
    with_header(with_header(response, header::ETAG, etag)?, header::CACHE_CONTROL, cache_control)
}

/// `response` with header `name` set to `value` (values ballot builds itself).
pub fn with_header(
    mut response: Response<Body>,
    name: header::HeaderName,
    value: &str,
) -> Result<Response<Body>, ApiError> {
    response.headers_mut().insert(name, HeaderValue::from_str(value).map_err(ApiError::internal)?);
    Ok(response)
}

/// A query parameter's single value, if present.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(origin: Option<&str>) -> RequestMeta {
        RequestMeta { request_id: "req-9".into(), origin: origin.map(Into::into) }
    }

    fn cors() -> Cors {
        Cors::new(vec!["https://app.example.com".into()])
    }

    #[test]
    fn given_any_response_when_finished_then_security_headers_and_request_id_are_set() {
        let response = finish(json(StatusCode::OK, &serde_json::json!({"ok": true})).unwrap(), &meta(None), &cors());
        let h = response.headers();
        assert_eq!(h["strict-transport-security"], "max-age=63072000; includeSubDomains");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-request-id"], "req-9");
        assert!(h.get("access-control-allow-origin").is_none());
    }

    #[test]
    fn given_if_match_headers_then_versions_428_or_400() {
        let with = |value: Option<&str>| {
            let mut req = Request::default();
            if let Some(value) = value {
                req.headers_mut().insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
            }
            if_match_version(&req).map_err(|e| e.status().as_u16())
        };
        for (value, version) in [("\"3\"", 3), ("W/\"3\"", 3), ("3", 3), (" \"12\" ", 12)] {
            assert_eq!(with(Some(value)), Ok(version), "{value}");
        }
        assert_eq!(with(None), Err(428));
        for malformed in ["", "\"\"", "W/3", "\"3", "x", "\"-1\"", "*", "\"3\", \"4\"", "99999999999999999999"] {
            assert_eq!(with(Some(malformed)), Err(400), "{malformed:?}");
        }
    }

    #[test]
    fn given_a_route_that_sets_caching_when_finished_then_it_is_kept() {
        let mut response = no_content();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
        let response = finish(response, &meta(None), &cors());
        assert_eq!(response.headers()["cache-control"], "public, max-age=60");
        let vary: Vec<_> = response.headers().get_all("vary").iter().collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"], "a shared cache keeps gzipped and plain copies apart");
        let private = finish(no_content(), &meta(None), &cors());
        assert_eq!(private.headers().get_all("vary").iter().collect::<Vec<_>>(), ["Origin"]);
    }

    #[test]
    fn given_an_allowed_origin_when_finished_then_it_is_echoed() {
        let response = finish(no_content(), &meta(Some("https://app.example.com")), &cors());
        assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(response.headers()["vary"], "Origin");
    }

    #[test]
    fn given_another_origin_when_finished_then_no_cors_grant() {
        let response = finish(no_content(), &meta(Some("https://evil.example")), &cors());
        assert!(response.headers().get("access-control-allow-origin").is_none());
    }

    #[test]
    fn given_an_error_when_responded_then_problem_json_with_request_id() {
        let response =
            respond(Err(ApiError::Domain(ballot_core::Error::TooManyRequests { retry_after_secs: 3 })), "req-1");
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(response.headers()["retry-after"], "3");
        let Body::Binary(bytes) = response.body() else { panic!() };
        let problem: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(problem["request_id"], "req-1");
        assert_eq!(problem["type"], "urn:ballot:problem:throttled");
    }
}
