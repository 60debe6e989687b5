//! The auth hot paths, measured in-process on the release build of `shared`:
//! - **token verification**: `shared::auth::token::verify` of a valid EdDSA access token;
//! - **authorizer decision**: `shared::auth::authorizer::decide` (verification plus the
//!   IAM policy from the route table), the authorizer's work per uncached request;
//! - **API key check**: what the authorizer computes for a `bk_…` key besides its two reads
//!   (the key's item, the owner's account): parsing, the secret's SHA-256, the
//!   constant-time comparison, and the answer with the key's policy (scopes within roles);
//! - **login password check**: `shared::auth::password::verify_or_waste` of the right
//!   password against an argon2id hash (m = 19 MiB, t = 2, p = 1), login's main cost.

use std::time::{Duration, Instant};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use ballot_core::{
    api_keys::{self, Scope},
    ids,
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::json;
use shared::auth::{
    Role, authorizer,
    keys::KeySet,
    password,
    token::{self, TokenKind, TokenSettings},
    verifier::{KeyGrant, Verified},
};

use crate::stats::Summary;

/// The four distributions.
pub struct AuthPaths {
    pub verify: Summary,
    pub decide: Summary,
    pub key: Summary,
    pub login: Summary,
}

/// Runs `iterations` of each token path and `logins` password checks.
pub async fn measure(iterations: usize, logins: usize) -> Result<AuthPaths, String> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| "key generation failed")?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "key does not parse")?;
    let set = json!({"current": "k1", "keys": {"k1": {"alg": "EdDSA", "pkcs8": STANDARD.encode(pkcs8.as_ref()),
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}}});
    let keys = KeySet::parse(&set.to_string()).map_err(|e| e.to_string())?;
    let settings = TokenSettings { issuer: "ballot".into(), audience: "ballot-api".into() };
    let (token, _) = token::issue(&keys, &settings, "u1", &[Role::Editor], TokenKind::Access, "j".into())
        .map_err(|e| e.to_string())?;
    let event = json!({"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/v1/me",
        "headers": {"Authorization": format!("Bearer {token}")}});

    let verify = timed(iterations, || token::verify(&keys, &settings, &token).map(drop).map_err(|e| e.to_string()))?;
    let decide =
        timed(iterations, || authorizer::decide(&keys, &settings, &event).map(drop).map_err(|e| e.to_string()))?;
    let key = format!("bk_u1.k1.{}", ids::random_token(32));
    let stored_hash = ids::sha256_hex(api_keys::parse(&key).ok_or("the key does not parse")?.secret);
    let key = timed(iterations, || {
        let presented = api_keys::parse(&key).ok_or("malformed key")?;
        let hash = ids::sha256_hex(presented.secret);
        aws_lc_rs::constant_time::verify_slices_are_equal(hash.as_bytes(), stored_hash.as_bytes())
            .map_err(|_| "wrong secret")?;
        let grant = KeyGrant { id: presented.id.to_owned(), scopes: vec![Scope::PollsRead, Scope::VotesWrite] };
        let who = Verified {
            sub: presented.owner_id.to_owned(),
            roles: vec![Role::Editor],
            kind: TokenKind::ApiKey,
            exp: 0,
            email_verified: true,
            key: Some(grant),
        };
        authorizer::answer(&event, &who).map(drop).map_err(|e| e.to_string())
    })?;
    let phc = password::hash("a long and correct passphrase".into()).await.map_err(|e| e.to_string())?;
    let mut samples = Vec::with_capacity(logins);
    for _ in 0..logins {
        let start = Instant::now();
        let ok = password::verify_or_waste("a long and correct passphrase".into(), Some(phc.clone())).await;
        samples.push(start.elapsed());
        if !ok.map_err(|e| e.to_string())? {
            return Err("the password did not verify".into());
        }
    }
    Ok(AuthPaths { verify, decide, key, login: Summary::of(&samples).ok_or("no login samples")? })
}

fn timed(iterations: usize, mut run: impl FnMut() -> Result<(), String>) -> Result<Summary, String> {
    for _ in 0..iterations / 10 {
        run()?;
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        run()?;
        samples.push(start.elapsed());
    }
    Summary::of(&samples).ok_or_else(|| "no samples".into())
}

/// The Markdown table for the README.
pub fn markdown(paths: &AuthPaths) -> String {
    let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    format!(
        "| auth path | p50 | p99 | samples |\n| :--- | ---: | ---: | ---: |\n\
         | token verification | {} µs | {} µs | {} |\n\
         | authorizer decision (verify + policy) | {} µs | {} µs | {} |\n\
         | API key check (parse, SHA-256, compare, key policy; without its 2 reads) | {} µs | {} µs | {} |\n\
         | login password check (argon2id) | {} ms | {} ms | {} |\n",
        us(paths.verify.p50),
        us(paths.verify.p99),
        paths.verify.count,
        us(paths.decide.p50),
        us(paths.decide.p99),
        paths.decide.count,
        us(paths.key.p50),
        us(paths.key.p99),
        paths.key.count,
        ms(paths.login.p50),
        ms(paths.login.p99),
        paths.login.count,
    )
}
