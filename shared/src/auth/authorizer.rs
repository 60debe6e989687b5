//! The Lambda `REQUEST` authorizer's decision, free of Lambda types.
//!
//! It reads `Authorization: Bearer <token>` (the header capped at [`MAX_TOKEN_BYTES`]),
//! verifies the token, and answers with the IAM policy of the caller's roles from the
//! route table and a context of `sub`, `roles` (comma separated) and `token_kind`; for an
//! API key, the policy of its scopes within its owner's roles, and `api_key` (its id, never
//! its secret) and `scopes` in the context. Every
//! refusal is the same `Unauthorized`, which API Gateway turns into 401; the reason goes
//! to the log, never the token.

use serde_json::{Value, json};

use ballot_core::access as routes;

use super::{
    keys::KeySet,
    token::{AccessClaims, MAX_TOKEN_BYTES, TokenSettings, verify},
    verifier::Verified,
};

/// The one error an authorizer returns: API Gateway answers 401 for exactly this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Unauthorized")]
pub struct Unauthorized;

/// Decides a `REQUEST` authorizer event (`headers`, `methodArn`) on the token alone.
pub fn decide(keys: &KeySet, settings: &TokenSettings, event: &Value) -> Result<Value, Unauthorized> {
    let claims = verify_request(keys, settings, event)?;
    let who = Verified {
        sub: claims.sub,
        roles: claims.roles,
        kind: claims.kind,
        exp: claims.exp,
        email_verified: false,
        key: None,
    };
    answer(event, &who)
}

/// The verified claims of the event's bearer token.
pub fn verify_request(keys: &KeySet, settings: &TokenSettings, event: &Value) -> Result<AccessClaims, Unauthorized> {
    authenticate(keys, settings, event).map_err(|reason| {
        tracing::info!(%reason, "token refused");
        Unauthorized
    })
}

/// The authorizer's answer for `who`: the policy of its roles for the event's API and
/// stage, and the context functions read with `shared::identity::caller_of`. `exp`
/// travels in the context because API Gateway caches the answer for up to 300 s without
/// knowing the token's expiry: `shared::http::serve` refuses a request whose token has
/// expired. `email_verified` is as of the answer: a verification applies to a cached
/// token within the cache's time.
pub fn answer(event: &Value, who: &Verified) -> Result<Value, Unauthorized> {
    let method_arn = event["methodArn"].as_str().ok_or(Unauthorized)?;
    let names: Vec<&str> = who.roles.iter().map(|r| r.as_str()).collect();
    let mut answer = json!({
        "principalId": who.sub,
        "policyDocument": routes::policy(method_arn, &who.roles),
        "context": {
            "sub": who.sub,
            "roles": names.join(","),
            "token_kind": who.kind.as_str(),
            "exp": who.exp,
            "email_verified": who.email_verified,
        },
    });
    if let Some(key) = &who.key {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        answer["policyDocument"] = routes::key_policy(method_arn, &who.roles, &key.scopes);
        answer["context"]["api_key"] = json!(key.id);
        answer["context"]["scopes"] = json!(scopes.join(","));
    }
    Ok(answer)
}

fn authenticate(keys: &KeySet, settings: &TokenSettings, event: &Value) -> Result<AccessClaims, String> {
    verify(keys, settings, bearer_token(event)?).map_err(|e| e.to_string())
}

/// The token of the event's `Authorization: Bearer <token>` header (capped in size).
pub fn bearer(event: &Value) -> Result<&str, Unauthorized> {
    bearer_token(event).map_err(|reason| {
        tracing::info!(%reason, "no usable bearer token");
        Unauthorized
    })
}

fn bearer_token(event: &Value) -> Result<&str, String> {
    let headers = event["headers"].as_object().ok_or("no headers")?;
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())
        .ok_or("no Authorization header")?;
    if value.len() > MAX_TOKEN_BYTES {
        return Err(format!("Authorization header of {} bytes", value.len()));
    }
    let (scheme, token) = value.split_once(' ').ok_or("Authorization is not `Bearer <token>`")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("Authorization scheme is not Bearer".into());
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{
        Role,
        keys::tests::key_set,
        token::{TokenKind, issue},
    };

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/v1/me";

    fn setup() -> (KeySet, TokenSettings) {
        (
            KeySet::parse(&key_set(&["k1"], "k1")).unwrap(),
            TokenSettings { issuer: "ballot".into(), audience: "ballot-api".into() },
        )
    }

    fn event(authorization: Option<&str>) -> Value {
        let headers = match authorization {
            Some(v) => json!({"authorization": v}),
            None => json!({}),
        };
        json!({"type": "REQUEST", "methodArn": ARN, "headers": headers})
    }

    #[test]
    fn given_a_valid_token_when_decided_then_policy_and_context() {
        let (keys, settings) = setup();
        let (token, _) = issue(&keys, &settings, "g-1", &[Role::Guest], TokenKind::Guest, "j".into()).unwrap();
        let answer = decide(&keys, &settings, &event(Some(&format!("Bearer {token}")))).unwrap();
        assert_eq!(answer["principalId"], "g-1");
        assert_eq!(answer["context"]["sub"], "g-1");
        assert_eq!(answer["context"]["roles"], "guest");
        assert_eq!(answer["context"]["token_kind"], "guest");
        assert!(answer["context"]["exp"].as_u64().unwrap() > ballot_core::clock::epoch_secs());
        assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow");
    }

    #[test]
    fn given_missing_or_malformed_authorization_when_decided_then_unauthorized() {
        let (keys, settings) = setup();
        let (token, _) = issue(&keys, &settings, "u", &[Role::Viewer], TokenKind::Access, "j".into()).unwrap();
        let huge = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        for value in
            [None, Some(""), Some("Bearer"), Some(token.as_str()), Some(&format!("Basic {token}")), Some(huge.as_str())]
        {
            assert_eq!(decide(&keys, &settings, &event(value)), Err(Unauthorized), "{value:?}");
        }
        assert_eq!(Unauthorized.to_string(), "Unauthorized");
    }
}
