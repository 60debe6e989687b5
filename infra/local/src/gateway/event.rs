//! REST API proxy events (payload v1) and Lambda proxy responses, in API Gateway's shapes.

use std::{collections::HashMap, net::SocketAddr};

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderName, HeaderValue, Response, StatusCode, request::Parts};
use serde_json::{Map, Value, json};

use super::router::decode;
use crate::template::Route;

/// The parts of an HTTP request that go into events.
pub struct HttpRequest {
    path: String,
    method: String,
    headers: Map<String, Value>,
    multi_headers: Map<String, Value>,
    query: Option<Map<String, Value>>,
    multi_query: Option<Map<String, Value>>,
    body: Value,
    is_base64: bool,
    source_ip: String,
    user_agent: String,
}

/// Where the request is going, for `requestContext`.
pub struct Context<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub request_id: &'a str,
    pub route: &'a Route,
    pub path_parameters: &'a HashMap<String, String>,
    /// The authorizer's context (with `principalId`), once it allowed the call.
    pub authorizer: Option<Map<String, Value>>,
}

impl HttpRequest {
    pub fn new(parts: &Parts, body: &[u8], path: &str, method: &str, peer: SocketAddr) -> Self {
        let mut headers = Map::new();
        let mut multi_headers: Map<String, Value> = Map::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let key = canonical_header(name.as_str());
            headers.insert(key.clone(), Value::String(value.clone()));
            multi_headers
                .entry(key)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("array")
                .push(Value::String(value));
        }
        let (query, multi_query) = parse_query(parts.uri.query());
        let (body, is_base64) = match (body.is_empty(), std::str::from_utf8(body)) {
            (true, _) => (Value::Null, false),
            (false, Ok(text)) => (Value::String(text.to_owned()), false),
            (false, Err(_)) => (Value::String(STANDARD.encode(body)), true),
        };
        let user_agent =
            parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Self {
            path: path.to_owned(),
            method: method.to_owned(),
            headers,
            multi_headers,
            query,
            multi_query,
            body,
            is_base64,
            source_ip: peer.ip().to_string(),
            user_agent,
        }
    }

    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
    }

    fn request_context(&self, ctx: &Context<'_>) -> Value {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut value = json!({
            "accountId": crate::LOCAL_ACCOUNT_ID,
            "apiId": ctx.api_id,
            "resourceId": "local",
            "resourcePath": ctx.route.path,
            "httpMethod": self.method,
            "requestId": ctx.request_id,
            "extendedRequestId": ctx.request_id,
            "path": format!("/{}{}", ctx.stage, self.path),
            "stage": ctx.stage,
            "protocol": "HTTP/1.1",
            "domainName": self.header("host").unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "requestTimeEpoch": now.as_millis() as u64,
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
        });
        if let Some(authorizer) = &ctx.authorizer {
            value["authorizer"] = Value::Object(authorizer.clone());
        }
        value
    }

    fn path_parameters(ctx: &Context<'_>) -> Value {
        if ctx.path_parameters.is_empty() { Value::Null } else { json!(ctx.path_parameters) }
    }

    /// The fields the proxy and the authorizer events share.
    fn common(&self, ctx: &Context<'_>) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "resource": ctx.route.path,
            "path": self.path,
            "httpMethod": self.method,
            "headers": self.headers,
            "multiValueHeaders": self.multi_headers,
            "queryStringParameters": self.query,
            "multiValueQueryStringParameters": self.multi_query,
            "pathParameters": Self::path_parameters(ctx),
            "stageVariables": null,
            "requestContext": self.request_context(ctx),
        }) else {
            unreachable!("json! of an object")
        };
        map
    }

    /// The `AWS_PROXY` integration event.
    pub fn proxy_event(&self, ctx: &Context<'_>) -> Value {
        let mut event = self.common(ctx);
        event.insert("body".into(), self.body.clone());
        event.insert("isBase64Encoded".into(), Value::Bool(self.is_base64));
        Value::Object(event)
    }

    /// The `REQUEST` authorizer event.
    pub fn authorizer_event(&self, ctx: &Context<'_>, method_arn: &str) -> Value {
        let mut event = self.common(ctx);
        event.insert("type".into(), Value::String("REQUEST".into()));
        event.insert("methodArn".into(), Value::String(method_arn.into()));
        Value::Object(event)
    }
}

/// API Gateway passes header names as the client sent them; hyper lower-cases them, so
/// they are given the usual capitalisation (`content-type` → `Content-Type`).
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

type QueryMaps = (Option<Map<String, Value>>, Option<Map<String, Value>>);

/// The query string as API Gateway passes it: `queryStringParameters` (the last value of
/// each name) and `multiValueQueryStringParameters`, both `None` without a query.
pub(crate) fn parse_query(query: Option<&str>) -> QueryMaps {
    let Some(query) = query.filter(|q| !q.is_empty()) else { return (None, None) };
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // A component that cannot be decoded is passed as sent rather than dropped.
        let decoded = |raw: &str| decode(&raw.replace('+', " ")).unwrap_or_else(|| raw.to_owned());
        let (key, value) = (decoded(key), decoded(value));
        single.insert(key.clone(), Value::String(value.clone()));
        multi.entry(key).or_insert_with(|| json!([])).as_array_mut().expect("array").push(Value::String(value));
    }
    (Some(single), Some(multi))
}

/// Turns a Lambda proxy response into an HTTP response; `Err` when it is malformed (API
/// Gateway answers 502 then).
pub fn proxy_response(result: &Value) -> Result<Response<Vec<u8>>, String> {
    let status = result["statusCode"].as_u64().ok_or("no statusCode")?;
    let status = u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).ok_or("invalid statusCode")?;
    let body = match &result["body"] {
        Value::Null => Vec::new(),
        Value::String(text) if result["isBase64Encoded"] == true => {
            STANDARD.decode(text).map_err(|_| "body is not base64")?
        }
        Value::String(text) => text.clone().into_bytes(),
        _ => return Err("body is not a string".into()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in result["headers"].as_object().into_iter().flatten() {
        let name = HeaderName::try_from(name.as_str()).map_err(|_| format!("bad header name {name}"))?;
        let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
        headers.insert(name, HeaderValue::try_from(text).map_err(|_| "bad header value")?);
    }
    for (name, values) in result["multiValueHeaders"].as_object().into_iter().flatten() {
        let name = HeaderName::try_from(name.as_str()).map_err(|_| format!("bad header name {name}"))?;
        headers.remove(&name);
        for value in values.as_array().into_iter().flatten() {
            let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
            headers.append(name.clone(), HeaderValue::try_from(text).map_err(|_| "bad header value")?);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_query_string_when_parsed_then_single_and_multi_maps() {
        let (single, multi) = parse_query(Some("deep=true&tag=a&tag=b%20c&flag"));
        let single = single.unwrap();
        assert_eq!(single["deep"], "true");
        assert_eq!(single["tag"], "b c");
        assert_eq!(single["flag"], "");
        assert_eq!(multi.unwrap()["tag"], json!(["a", "b c"]));
        assert_eq!(parse_query(Some("")), (None, None));
    }

    #[test]
    fn given_a_proxy_response_when_converted_then_status_headers_and_body_are_kept() {
        let result = json!({"statusCode": 201, "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"vary": ["Origin", "Accept"]}, "body": "{}", "isBase64Encoded": false});
        let response = proxy_response(&result).unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers().get_all("vary").iter().count(), 2);
        assert_eq!(response.body(), b"{}");
    }

    #[test]
    fn given_a_base64_body_when_converted_then_it_is_decoded() {
        let result = json!({"statusCode": 200, "body": STANDARD.encode(b"\x00\x01"), "isBase64Encoded": true});
        assert_eq!(proxy_response(&result).unwrap().body(), &[0, 1]);
    }

    #[test]
    fn given_a_malformed_proxy_response_when_converted_then_refused() {
        assert!(proxy_response(&json!({"body": "x"})).is_err());
        assert!(proxy_response(&json!({"statusCode": 99})).is_err());
        assert!(proxy_response(&json!({"statusCode": 200, "body": 5})).is_err());
    }

    #[test]
    fn given_lower_case_header_names_when_canonicalised_then_title_case() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-amzn-trace-id"), "X-Amzn-Trace-Id");
    }
}
