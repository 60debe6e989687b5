//! A local OpenID Connect issuer for tests and development: it serves a JWK set and mints
//! ES256 ID tokens on request, as Google or GitHub would after a sign-in. Loopback only;
//! it exists so the federated sign-in path is tested end to end without the internet.
//!
//! - `GET /jwks` — the public keys;
//! - `GET /token?sub=…&aud=…[&email=…][&expires_in=…]` — a signed ID token;
//! - `POST /rotate` — a new signing key (the old one stays in the set).

use std::{collections::HashMap, convert::Infallible, sync::Arc};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, service::service_fn};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::Mutex};

struct Key {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn new_key() -> Key {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("P-256 key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key parses");
    let point = pair.public_key().as_ref(); // 0x04 || X || Y
    let kid = format!("es-{}", crate::keys::random_token(6));
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
    Key { kid, pkcs8: pkcs8.as_ref().to_vec(), jwk }
}

/// Serves the issuer on `listener` until the task is dropped; its `iss` is its base URL.
pub async fn serve(listener: TcpListener) {
    let issuer = format!("http://{}", listener.local_addr().expect("address"));
    let keys = Arc::new(Mutex::new(vec![new_key()]));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (keys, issuer) = (Arc::clone(&keys), issuer.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (keys, issuer) = (Arc::clone(&keys), issuer.clone());
                async move { Ok::<_, Infallible>(answer(&req, &keys, &issuer).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(req: &Request<hyper::body::Incoming>, keys: &Mutex<Vec<Key>>, issuer: &str) -> Response<Full<Bytes>> {
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), crate::gateway::router::decode(v).unwrap_or_default()))
        .collect();
    let (status, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/jwks") => (200, json!({"keys": keys.lock().await.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})),
        ("POST", "/rotate") => {
            let key = new_key();
            let kid = key.kid.clone();
            keys.lock().await.push(key);
            (200, json!({"kid": kid}))
        }
        ("GET", "/token") => match mint(&query, keys.lock().await.last().expect("a key"), issuer) {
            Ok(token) => (200, json!({"id_token": token})),
            Err(reason) => (400, json!({"error": reason})),
        },
        _ => (404, json!({"error": "not found"})),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    response
}

fn mint(query: &HashMap<String, String>, key: &Key, issuer: &str) -> Result<String, String> {
    let sub = query.get("sub").ok_or("sub is required")?;
    let aud = query.get("aud").ok_or("aud is required")?;
    let expires_in: i64 =
        query.get("expires_in").map(|v| v.parse().map_err(|_| "bad expires_in")).transpose()?.unwrap_or(300);
    let now = ballot_core::clock::epoch_secs() as i64;
    let mut claims = json!({"iss": issuer, "sub": sub, "aud": aud, "iat": now, "nbf": now, "exp": now + expires_in});
    if let Some(email) = query.get("email") {
        claims["email"] = json!(email);
        claims["email_verified"] = json!(query.get("email_verified").is_none_or(|v| v == "true"));
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    encode(&header, &claims, &EncodingKey::from_ec_der(&key.pkcs8)).map_err(|e| e.to_string())
}
