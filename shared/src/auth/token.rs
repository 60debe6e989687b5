//! Access tokens: EdDSA JWTs with `typ` `at+jwt` (RFC 9068), signed with the key set's
//! current key.
//!
//! Verification is set explicitly and fails closed: the token is at most
//! [`MAX_TOKEN_BYTES`] and has exactly three segments; the header's `alg` must be EdDSA
//! and its `typ` `at+jwt`; the `kid` must name a key of our set (nothing else the header
//! names is used); `exp`, `nbf`, `iss`, `aud` and `sub` are required, numeric dates are
//! numbers, and `exp`/`nbf` are checked with at most [`LEEWAY_SECS`] of clock skew.

use jsonwebtoken::{Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use ballot_core::access::Role;
pub use ballot_core::access::TokenKind;

use super::keys::KeySet;
pub use crate::config::TokenSettings;

/// Longest token accepted (the authorizer caps the whole header at this too).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// The JOSE `typ` of ballot access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub roles: Vec<Role>,
    pub kind: TokenKind,
    /// The account's sign-in epoch when issued (`User::epoch`); the authorizer refuses
    /// a token of an older one. 0 is left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why a token was refused. The authorizer answers every one of them with the same 401;
/// the reason is for the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("token is not three base64url segments")]
    Shape,
    #[error("token header: {0}")]
    Header(String),
    #[error("no key {0:?} in the key set")]
    UnknownKey(String),
    #[error("token rejected: {0}")]
    Invalid(String),
}

pub use ballot_core::clock::epoch_secs as now;

/// Signs a token for `sub` with `roles`, in sign-in epoch 0; returns it and its lifetime
/// in seconds.
pub fn issue(
    keys: &KeySet,
    settings: &TokenSettings,
    sub: &str,
    roles: &[Role],
    kind: TokenKind,
    jti: String,
) -> Result<(String, u64), jsonwebtoken::errors::Error> {
    issue_in_epoch(keys, settings, (sub, roles, kind), jti, 0)
}

/// Signs a token for (`sub`, `roles`, `kind`) of the account's sign-in `epoch`.
pub fn issue_in_epoch(
    keys: &KeySet,
    settings: &TokenSettings,
    (sub, roles, kind): (&str, &[Role], TokenKind),
    jti: String,
    epoch: u64,
) -> Result<(String, u64), jsonwebtoken::errors::Error> {
    let (kid, key) = keys.signer().ok_or(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
    let mut header = Header::new(KeySet::ALGORITHM);
    header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
    header.kid = Some(kid.to_owned());
    let iat = now();
    let ttl = kind.ttl_secs();
    let claims = AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: sub.to_owned(),
        exp: iat + ttl,
        nbf: iat,
        iat,
        jti,
        roles: roles.to_vec(),
        kind,
        epoch,
    };
    Ok((encode(&header, &claims, key)?, ttl))
}

/// Verifies `token` (see the module invariants) and returns its claims.
pub fn verify(keys: &KeySet, settings: &TokenSettings, token: &str) -> Result<AccessClaims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLong);
    }
    let segments: Vec<&str> = token.split('.').collect();
    let base64url = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if segments.len() != 3 || !segments.iter().all(|s| base64url(s)) {
        return Err(TokenError::Shape);
    }
    let header = decode_header(token).map_err(|e| TokenError::Header(e.to_string()))?;
    if header.alg != KeySet::ALGORITHM {
        return Err(TokenError::Header(format!("alg {:?} is not allowed", header.alg)));
    }
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
        return Err(TokenError::Header("typ is not at+jwt".into()));
    }
    let kid = header.kid.unwrap_or_default();
    let key = keys.verifier(&kid).ok_or_else(|| TokenError::UnknownKey(kid.chars().take(64).collect()))?;
    let mut validation = Validation::new(KeySet::ALGORITHM);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    let data = decode::<AccessClaims>(token, key, &validation).map_err(|e| TokenError::Invalid(e.to_string()))?;
    if data.claims.sub.trim().is_empty() {
        return Err(TokenError::Invalid("empty sub".into()));
    }
    // ballot signs access and guest tokens only; an API key is never a JWT.
    if !matches!(data.claims.kind, TokenKind::Access | TokenKind::Guest) {
        return Err(TokenError::Invalid("kind is not a ballot token's".into()));
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::tests::key_set;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use serde_json::json;

    fn settings() -> TokenSettings {
        TokenSettings { issuer: "ballot".into(), audience: "ballot-api".into() }
    }

    fn keys() -> KeySet {
        KeySet::parse(&key_set(&["k1", "k2"], "k1")).unwrap()
    }

    /// Signs arbitrary header and claims with the set's current key.
    fn forge(keys: &KeySet, header: serde_json::Value, claims: serde_json::Value) -> String {
        let h: Header = serde_json::from_value(header).unwrap();
        encode(&h, &claims, keys.signer().unwrap().1).unwrap()
    }

    fn good_claims() -> serde_json::Value {
        let t = now();
        json!({"iss": "ballot", "aud": "ballot-api", "sub": "u1", "exp": t + 600, "nbf": t - 1, "iat": t, "jti": "j", "roles": ["viewer"], "kind": "access"})
    }

    fn header() -> serde_json::Value {
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"})
    }

    #[test]
    fn given_an_issued_token_when_verified_then_its_claims_come_back() {
        let keys = keys();
        let (token, ttl) = issue(&keys, &settings(), "u1", &[Role::Editor], TokenKind::Access, "j1".into()).unwrap();
        assert_eq!(ttl, 900);
        let claims = verify(&keys, &settings(), &token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.roles.as_slice(), claims.kind),
            ("u1", &[Role::Editor][..], TokenKind::Access)
        );
    }

    #[test]
    fn given_a_token_of_the_previous_key_when_verified_after_rotation_then_valid() {
        let before = key_set(&["k1"], "k1");
        let (token, _) =
            issue(&KeySet::parse(&before).unwrap(), &settings(), "u1", &[Role::Viewer], TokenKind::Access, "j".into())
                .unwrap();
        let mut rotated: serde_json::Value = serde_json::from_str(&before).unwrap();
        rotated["keys"]["k2"] = crate::auth::keys::tests::key_entry();
        rotated["current"] = json!("k2");
        let rotated = KeySet::parse(&rotated.to_string()).unwrap();
        assert_eq!(verify(&rotated, &settings(), &token).unwrap().sub, "u1");
        let (fresh, _) = issue(&rotated, &settings(), "u2", &[Role::Viewer], TokenKind::Access, "j2".into()).unwrap();
        assert_eq!(decode_header(&fresh).unwrap().kid.as_deref(), Some("k2"));
    }

    #[test]
    fn given_hostile_tokens_when_verified_then_each_is_refused() {
        let keys = keys();
        let s = settings();
        let t = now();
        let good = forge(&keys, header(), good_claims());
        let (h, rest) = good.split_once('.').unwrap();
        let (p, sig) = rest.split_once('.').unwrap();
        let with = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut c = good_claims();
            change(&mut c);
            forge(&keys, header(), c)
        };
        let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let mut cases: Vec<(&str, String)> = vec![
            ("truncated signature", format!("{h}.{p}.{}", &sig[..sig.len() / 2])),
            ("empty signature", format!("{h}.{p}.")),
            ("two segments", format!("{h}.{p}")),
            ("four segments", format!("{good}.{sig}")),
            ("bad base64url", format!("{h}.{p}.{sig}=")),
            ("too long", format!("{h}.{}.{sig}", "A".repeat(11 * 1024))),
            ("expired", with(&|c| c["exp"] = json!(t - 31))),
            ("no exp", with(&|c| drop(c.as_object_mut().unwrap().remove("exp")))),
            ("exp as string", with(&|c| c["exp"] = json!((t + 600).to_string()))),
            ("nbf as string", with(&|c| c["nbf"] = json!(t.to_string()))),
            ("nbf in the future", with(&|c| c["nbf"] = json!(t + 120))),
            ("wrong iss", with(&|c| c["iss"] = json!("evil"))),
            ("no iss", with(&|c| drop(c.as_object_mut().unwrap().remove("iss")))),
            ("wrong aud", with(&|c| c["aud"] = json!("other"))),
            ("no aud", with(&|c| drop(c.as_object_mut().unwrap().remove("aud")))),
            ("no sub", with(&|c| drop(c.as_object_mut().unwrap().remove("sub")))),
            ("wrong typ", forge(&keys, json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"}), good_claims())),
            ("unknown kid", forge(&keys, json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k9"}), good_claims())),
            ("empty kid", forge(&keys, json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ""}), good_claims())),
            (
                "path kid",
                forge(&keys, json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "../../../../dev/null"}), good_claims()),
            ),
            (
                "sql kid",
                forge(&keys, json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "x' UNION SELECT '1';--"}), good_claims()),
            ),
            (
                "signed by another set's k1",
                forge(&KeySet::parse(&key_set(&["k1"], "k1")).unwrap(), header(), good_claims()),
            ),
        ];
        for alg in ["none", "None", "NONE", "nOnE"] {
            cases.push(("alg none", format!("{}.{p}.", b64(json!({"alg": alg, "typ": "at+jwt", "kid": "k1"})))));
            cases.push((
                "alg none with sig",
                format!("{}.{p}.{sig}", b64(json!({"alg": alg, "typ": "at+jwt", "kid": "k1"}))),
            ));
        }
        for (name, token) in cases {
            assert!(verify(&keys, &s, &token).is_err(), "{name} was accepted");
        }
        assert!(verify(&keys, &s, &good).is_ok(), "the unmodified token verifies");
    }

    #[test]
    fn given_an_hs256_token_keyed_with_the_public_key_or_nothing_when_verified_then_refused() {
        let keys = keys();
        let x = keys.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
        for secret in [x.as_bytes(), b"".as_slice()] {
            let h = Header {
                typ: Some("at+jwt".into()),
                kid: Some("k1".into()),
                ..Header::new(jsonwebtoken::Algorithm::HS256)
            };
            let token = encode(&h, &good_claims(), &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap();
            assert!(matches!(verify(&keys, &settings(), &token), Err(TokenError::Header(_))));
        }
    }
}
