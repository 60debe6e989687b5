//! Signing in with another identity provider ("log in with Google/GitHub"): the
//! federated sign-in route and the authorizer accept the ID tokens of the issuers the
//! configuration trusts (`OIDC_ISSUERS`, a JSON list of `{"issuer","audience","jwks_url"}`).
//!
//! Invariants: only RS256 and ES256; the issuer is matched exactly against the list
//! before any key is looked up, and keys come only from that issuer's configured JWKS URL
//! (never from the token); `exp`, `iss`, `aud`, `sub` are required and checked with
//! the same leeway as ballot's own tokens (`nbf` when present). JWKS are cached per issuer for an hour; a token
//! with an unknown `kid` causes at most one refetch per issuer per [`REFETCH_INTERVAL`].

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::token::{LEEWAY_SECS, MAX_TOKEN_BYTES};

const JWKS_TTL: Duration = Duration::from_secs(3600);
/// How long cached keys keep serving while the issuer's JWKS cannot be fetched.
const STALE_MAX: Duration = Duration::from_secs(24 * 3600);
/// At most one JWKS fetch per issuer in this interval for unknown kids: random kids
/// cannot turn the authorizer into a request amplifier.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// An identity provider ballot trusts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
}

/// Parses `OIDC_ISSUERS` (empty or unset: none).
pub fn parse_issuers(raw: &str) -> Result<Vec<TrustedIssuer>, String> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    let issuers: Vec<TrustedIssuer> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    for issuer in &issuers {
        crate::config::trusted_url(&issuer.jwks_url).map_err(|why| format!("{}: jwks_url {why}", issuer.issuer))?;
    }
    Ok(issuers)
}

/// The largest JWKS body read: a key set is a few KB; a bigger answer is refused.
pub const JWKS_MAX_BYTES: usize = 64 * 1024;

/// Who an ID token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// When the ID token expires.
    pub exp: u64,
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

struct Keys {
    fetched_at: Instant,
    attempted_at: Instant,
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
}

/// Why an ID token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token is not good (the same 401 whatever the reason, given here for the log).
    Token(String),
    /// Its issuer's keys can't be had (the JWKS is down and no cached key has the `kid`):
    /// not the client's fault, a 5xx.
    Unavailable(String),
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Self::Token(reason)
    }
}

impl From<&str> for Refusal {
    fn from(reason: &str) -> Self {
        Self::Token(reason.to_owned())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(reason) => write!(f, "refused: {reason}"),
            Self::Unavailable(reason) => write!(f, "issuer keys unavailable: {reason}"),
        }
    }
}

/// Verifies federated ID tokens; one per warm function (the authorizer, federated sign-in).
pub struct Federation {
    issuers: Vec<TrustedIssuer>,
    http: reqwest::Client,
    keys: Mutex<HashMap<String, Keys>>,
}

impl Federation {
    pub fn new(issuers: Vec<TrustedIssuer>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Self { issuers, http, keys: Mutex::new(HashMap::new()) }
    }

    /// Whether `token` is one this verifier handles (an RS256/ES256 JWT).
    pub fn handles(token: &str) -> bool {
        decode_header(token).is_ok_and(|h| matches!(h.alg, Algorithm::RS256 | Algorithm::ES256))
    }

    /// Verifies an ID token of a trusted issuer.
    pub async fn verify(&self, token: &str) -> Result<FederatedIdentity, Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err("token too long".into());
        }
        let header = decode_header(token).map_err(|e| e.to_string())?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(format!("alg {:?} is not accepted from other issuers", header.alg).into());
        }
        let kid = header.kid.ok_or("no kid")?;
        let claimed: IssuerOnly =
            jsonwebtoken::dangerous::insecure_decode(token).map(|d| d.claims).map_err(|e| e.to_string())?;
        let issuer = self.issuers.iter().find(|i| i.issuer == claimed.iss).ok_or("untrusted issuer")?;
        let (key, alg) = self.key(issuer, &kid).await?;
        if alg != header.alg {
            return Err("alg does not match the key".into());
        }
        let mut validation = Validation::new(alg);
        // OIDC does not require nbf (many issuers omit it); when present it is checked.
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&issuer.issuer]);
        validation.set_audience(&[&issuer.audience]);
        let claims = decode::<IdClaims>(token, &key, &validation).map_err(|e| e.to_string())?.claims;
        if claims.sub.trim().is_empty() || claims.sub.len() > 255 {
            return Err("bad sub".into());
        }
        // An unverified email is anyone's claim: it is not kept.
        let email = claims.email.filter(|_| claims.email_verified);
        Ok(FederatedIdentity { issuer: issuer.issuer.clone(), subject: claims.sub, email, exp: claims.exp })
    }

    /// The key `kid` of `issuer`. The JWKS is cached for [`JWKS_TTL`]; it is fetched again
    /// when stale or for an unknown kid, but at most once per [`REFETCH_INTERVAL`] per
    /// issuer, failed attempts included. While fetching fails, keys up to [`STALE_MAX`]
    /// old keep serving, so an issuer's outage does not sign everyone out.
    /// A `kid` the issuer's keys lack is the token's fault; keys that can't be had while the
    /// last fetch failed are [`Refusal::Unavailable`].
    async fn key(&self, issuer: &TrustedIssuer, kid: &str) -> Result<(DecodingKey, Algorithm), Refusal> {
        let mut cache = self.keys.lock().await;
        let entry = cache.get(&issuer.issuer);
        let known = entry.filter(|k| k.fetched_at.elapsed() < STALE_MAX).and_then(|k| k.by_kid.get(kid)).cloned();
        let fresh = entry.is_some_and(|k| k.fetched_at.elapsed() < JWKS_TTL);
        if let (true, Some(key)) = (fresh, known.clone()) {
            return Ok(key);
        }
        if let Some(keys) = entry.filter(|k| k.attempted_at.elapsed() < REFETCH_INTERVAL) {
            let failing = keys.attempted_at > keys.fetched_at;
            return known.ok_or_else(|| match failing {
                true => Refusal::Unavailable("the last JWKS fetch failed (refetch limited)".into()),
                false => "unknown kid (refetch limited)".into(),
            });
        }
        match self.fetch(issuer).await {
            Ok(by_kid) => {
                let now = Instant::now();
                let found = by_kid.get(kid).cloned();
                cache.insert(issuer.issuer.clone(), Keys { fetched_at: now, attempted_at: now, by_kid });
                found.ok_or_else(|| "unknown kid".into())
            }
            Err(reason) => {
                tracing::warn!(issuer = %issuer.issuer, %reason, "JWKS fetch failed");
                match cache.get_mut(&issuer.issuer) {
                    Some(keys) => keys.attempted_at = Instant::now(),
                    None => {
                        let long_ago = Instant::now().checked_sub(STALE_MAX).unwrap_or_else(Instant::now);
                        let failed =
                            Keys { fetched_at: long_ago, attempted_at: Instant::now(), by_kid: HashMap::new() };
                        cache.insert(issuer.issuer.clone(), failed);
                    }
                }
                known.ok_or(Refusal::Unavailable(reason))
            }
        }
    }

    async fn fetch(&self, issuer: &TrustedIssuer) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let mut response = self
            .http
            .get(&issuer.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("JWKS fetch failed: {e}"))?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("JWKS fetch failed: {e}"))? {
            if body.len() + chunk.len() > JWKS_MAX_BYTES {
                return Err(format!("JWKS is larger than {JWKS_MAX_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("JWKS is not a JWK set: {e}"))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => return None,
                };
                Some((kid, (DecodingKey::from_jwk(jwk).ok()?, alg)))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_issuer_lists_when_parsed_then_only_https_or_loopback_jwks() {
        assert_eq!(parse_issuers("").unwrap(), []);
        let ok = parse_issuers(
            r#"[{"issuer":"https://id.example","audience":"ballot","jwks_url":"https://id.example/jwks"}]"#,
        )
        .unwrap();
        assert_eq!(ok[0].audience, "ballot");
        assert!(parse_issuers(r#"[{"issuer":"x","audience":"a","jwks_url":"http://id.example/jwks"}]"#).is_err());
        assert!(parse_issuers(r#"[{"issuer":"x","audience":"a","jwks_url":"http://127.0.0.1:9999/jwks"}]"#).is_ok());
        assert!(parse_issuers(r#"[{"issuer":"x"}]"#).is_err());
        for bad in [
            "http://localhost:@evil.example/jwks",
            "http://127.0.0.1:@evil.example/jwks",
            "https://user:pass@id.example/jwks",
            "http://localhost.evil.example/jwks",
            "http://127.0.0.1.evil.example:80/jwks",
            "jwks",
        ] {
            let list = format!(r#"[{{"issuer":"x","audience":"a","jwks_url":"{bad}"}}]"#);
            assert!(parse_issuers(&list).is_err(), "{bad} must be refused");
        }
        assert!(parse_issuers(r#"[{"issuer":"x","audience":"a","jwks_url":"http://localhost:8080/jwks"}]"#).is_ok());
    }

    /// Serves `body` once per connection as a JWKS endpoint on 127.0.0.1; its URL.
    async fn serve(body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0; 4096];
                let _ = socket.read(&mut request).await;
                // Chunked, with no length up front: the cap must hold while reading.
                let mut answer =
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
                for chunk in body.chunks(8 * 1024) {
                    answer.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    answer.extend_from_slice(chunk);
                    answer.extend_from_slice(b"\r\n");
                }
                answer.extend_from_slice(b"0\r\n\r\n");
                let _ = socket.write_all(&answer).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn given_a_jwks_body_past_the_cap_then_it_is_refused_and_a_small_one_read() {
        let key = r#"{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let small = format!(r#"{{"keys":[{key}]}}"#);
        let padded = format!(r#"{{"keys":[{key}],"padding":"{}"}}"#, "x".repeat(JWKS_MAX_BYTES));
        let federation = Federation::new(Vec::new());
        let issuer = |jwks_url: String| TrustedIssuer { issuer: "i".into(), audience: "a".into(), jwks_url };
        let keys = federation.fetch(&issuer(serve(small.into_bytes()).await)).await.unwrap();
        assert!(keys.contains_key("k1"));
        let refused = federation.fetch(&issuer(serve(padded.into_bytes()).await)).await.err().unwrap();
        assert!(refused.contains("larger than"), "{refused}");
    }

    /// An ID token's shape (header and claims in base64url, a dummy signature): enough for
    /// `verify` to pick the issuer and look up the key.
    fn unsigned(iss: &str, kid: &str) -> String {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#));
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"{iss}","sub":"s","aud":"a","exp":4102444800}}"#));
        format!("{header}.{claims}.c2ln")
    }

    #[tokio::test]
    async fn given_an_issuer_whose_keys_cannot_be_had_then_unavailable_and_an_unknown_kid_then_refused() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let down = format!("http://{}/jwks", closed.local_addr().unwrap());
        drop(closed);
        let key = r#"{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let up = serve(format!(r#"{{"keys":[{key}]}}"#).into_bytes()).await;
        let issuers = vec![
            TrustedIssuer { issuer: "down".into(), audience: "a".into(), jwks_url: down },
            TrustedIssuer { issuer: "up".into(), audience: "a".into(), jwks_url: up },
        ];
        let federation = Federation::new(issuers);
        for attempt in ["fetched", "refetch limited"] {
            let refusal = federation.verify(&unsigned("down", "k1")).await.unwrap_err();
            assert!(matches!(refusal, Refusal::Unavailable(_)), "{attempt}: {refusal}");
        }
        for attempt in ["fetched", "refetch limited"] {
            let refusal = federation.verify(&unsigned("up", "nobody")).await.unwrap_err();
            assert!(matches!(refusal, Refusal::Token(_)), "{attempt}: {refusal}");
        }
        let forged = federation.verify(&unsigned("up", "k1")).await.unwrap_err();
        assert!(matches!(forged, Refusal::Token(_)), "a bad signature: {forged}");
    }
}
