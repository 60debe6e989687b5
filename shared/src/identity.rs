//! Who is calling, as the Lambda authorizer told API Gateway.
//!
//! The authorizer puts `sub`, `roles` (comma separated) and `token_kind` in its context.
//! REST APIs (payload v1) pass it as `requestContext.authorizer.*`; HTTP APIs and
//! `cargo lambda watch` function URLs (payload v2) as `requestContext.authorizer.lambda.*`;
//! both arrive in the same map. A function never trusts anything else (headers, body)
//! for identity.

use lambda_http::{Request, RequestExt, request::RequestContext};
use serde_json::Value;

use ballot_core::access::{Principal, Role, TokenKind};

use crate::error::ApiError;

/// The caller of `req` as the authorizer vouched for it, or `Unauthorized` when no
/// authorizer context is present (a route without an authorizer must not call this).
/// Role names that are no [`Role`] are dropped; an unknown token kind is refused.
pub fn caller_of(req: &Request) -> Result<Principal, ApiError> {
    let fields = authorizer_fields(req).ok_or(ballot_core::Error::Unauthenticated)?;
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let sub = text("sub").ok_or(ballot_core::Error::Unauthenticated)?.to_owned();
    let names: Vec<&str> = match fields.get("roles") {
        Some(Value::String(list)) => list.split(',').map(str::trim).collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let roles = names.into_iter().filter_map(Role::parse).collect();
    let token_kind = match text("token_kind") {
        None => TokenKind::Access,
        Some(name) => TokenKind::parse(name).ok_or(ballot_core::Error::Unauthenticated)?,
    };
    let email_verified =
        matches!(fields.get("email_verified"), Some(Value::Bool(true))) || text("email_verified") == Some("true");
    Ok(Principal { sub, roles, token_kind, email_verified })
}

/// The owner and id of the API key that made `req`, when an API key did; a context that
/// says `api_key` without naming the key is refused, never passed on unmetered.
pub fn api_key_of(req: &Request) -> Result<Option<(String, String)>, ApiError> {
    let Some(fields) = authorizer_fields(req) else { return Ok(None) };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    if text("token_kind") != Some(TokenKind::ApiKey.as_str()) {
        return Ok(None);
    }
    match (text("sub"), text("api_key")) {
        (Some(owner), Some(key)) => Ok(Some((owner.to_owned(), key.to_owned()))),
        _ => Err(ballot_core::Error::Unauthenticated.into()),
    }
}

/// The authorizer's context of `req`, for REST (v1) and HTTP/function-URL (v2) payloads.
fn authorizer_fields(req: &Request) -> Option<&std::collections::HashMap<String, Value>> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => Some(&ctx.authorizer.fields),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().map(|a| &a.fields),
        _ => None,
    }
}

/// Whether the authorizer context names a token expiry (`exp`) that has passed, beyond
/// the leeway tokens get. Requests without an authorizer context never expire.
pub fn token_expired(req: &Request) -> bool {
    let exp =
        authorizer_fields(req).and_then(|f| f.get("exp")).and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    exp.is_some_and(|exp| ballot_core::clock::epoch_secs() > exp + crate::auth::token::LEEWAY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(event: serde_json::Value) -> Request {
        lambda_http::request::from_str(&event.to_string()).expect("valid event")
    }

    #[test]
    fn given_a_rest_v1_authorizer_context_when_read_then_the_caller_is_known() {
        let req = request(serde_json::json!({
            "resource": "/v1/me", "path": "/v1/me", "httpMethod": "GET", "headers": {}, "multiValueHeaders": {},
            "queryStringParameters": null, "pathParameters": null, "stageVariables": null, "body": null, "isBase64Encoded": false,
            "requestContext": {"requestId": "r1", "httpMethod": "GET", "resourcePath": "/v1/me", "stage": "prod", "identity": {},
                "authorizer": {"sub": "u-1", "roles": "editor,viewer", "token_kind": "access", "principalId": "u-1"}}
        }));
        let caller = caller_of(&req).unwrap();
        assert_eq!(caller.sub, "u-1");
        assert_eq!(caller.roles, [Role::Editor, Role::Viewer]);
        assert!(caller.has_role(Role::Editor) && !caller.has_role(Role::Admin));
    }

    #[test]
    fn given_a_v2_lambda_authorizer_context_when_read_then_the_caller_is_known() {
        let req = request(serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/v1/me", "rawQueryString": "", "headers": {}, "isBase64Encoded": false,
            "requestContext": {"requestId": "r2", "http": {"method": "GET", "path": "/v1/me", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                "authorizer": {"lambda": {"sub": "g-7", "roles": "guest", "token_kind": "guest"}}, "timeEpoch": 0}
        }));
        let caller = caller_of(&req).unwrap();
        assert_eq!((caller.sub.as_str(), caller.token_kind), ("g-7", TokenKind::Guest));
    }

    #[test]
    fn given_an_expiry_in_the_context_when_checked_then_past_ones_are_expired() {
        let event = |exp: serde_json::Value| {
            request(serde_json::json!({
                "resource": "/v1/me", "path": "/v1/me", "httpMethod": "GET", "headers": {}, "multiValueHeaders": {},
                "requestContext": {"requestId": "r", "httpMethod": "GET", "identity": {},
                    "authorizer": {"sub": "u", "roles": "viewer", "exp": exp}}
            }))
        };
        let now = ballot_core::clock::epoch_secs();
        assert!(token_expired(&event(serde_json::json!(now - 31))));
        assert!(token_expired(&event(serde_json::json!((now - 100).to_string()))), "API Gateway may stringify");
        assert!(!token_expired(&event(serde_json::json!(now + 600))));
        assert!(!token_expired(&event(serde_json::json!(now - 10))), "within the leeway");
    }

    #[test]
    fn given_no_authorizer_context_when_read_then_unauthorized() {
        let req = request(serde_json::json!({
            "resource": "/v1/me", "path": "/v1/me", "httpMethod": "GET", "headers": {"x-sub": "forged"}, "multiValueHeaders": {},
            "requestContext": {"requestId": "r3", "httpMethod": "GET", "identity": {}}
        }));
        assert!(matches!(caller_of(&req), Err(ApiError::Domain(ballot_core::Error::Unauthenticated))));
    }
}
