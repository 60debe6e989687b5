//! The JWT signing key set kept in Secrets Manager:
//! `{"current": kid, "keys": {kid: {"alg": "EdDSA", "pkcs8": <base64 DER>, "x": <base64url>}}}`,
//! and its public copy (the same without `pkcs8`), which is all that verifiers (the
//! authorizer, `jwks.json`) may read: a function that only verifies cannot mint tokens.
//!
//! Tokens are signed with `current`; any key of the set verifies (so tokens signed before a
//! rotation stay valid until they expire), and `jwks.json` publishes them all. A key is
//! only ever looked up by `kid` in this set: nothing a token names (`jku`, `x5u`, `jwk`) is
//! fetched or trusted.

use std::{collections::BTreeMap, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeySetError {
    #[error("the signing key set is not valid JSON of the expected shape: {0}")]
    Shape(String),
    #[error("the current key {0:?} is not in the set")]
    NoCurrent(String),
    #[error("key {kid:?}: {reason}")]
    Key { kid: String, reason: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    current: String,
    keys: BTreeMap<String, KeyDocument>,
}

#[derive(Deserialize)]
struct KeyDocument {
    alg: String,
    /// Absent in the public copy.
    #[serde(default)]
    pkcs8: Option<String>,
    x: String,
}

/// A parsed key set. Its `Debug` shows key ids only.
pub struct KeySet {
    current: String,
    /// `None` for the public copy.
    signing: Option<EncodingKey>,
    verifying: BTreeMap<String, DecodingKey>,
    public: BTreeMap<String, String>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("current", &self.current).field("kids", &self.public.keys()).finish()
    }
}

impl KeySet {
    pub fn parse(json: &str) -> Result<Self, KeySetError> {
        let doc: Document = serde_json::from_str(json).map_err(|e| KeySetError::Shape(e.to_string()))?;
        let mut verifying = BTreeMap::new();
        let mut public = BTreeMap::new();
        let mut signing = None;
        for (kid, key) in doc.keys {
            let bad = |reason: &str| KeySetError::Key { kid: kid.clone(), reason: reason.to_owned() };
            if key.alg != "EdDSA" {
                return Err(bad("only EdDSA keys are supported"));
            }
            let decoding =
                DecodingKey::from_ed_components(&key.x).map_err(|_| bad("x is not a base64url Ed25519 key"))?;
            if kid == doc.current
                && let Some(pkcs8) = &key.pkcs8
            {
                let der = STANDARD.decode(pkcs8).map_err(|_| bad("pkcs8 is not base64"))?;
                signing = Some(EncodingKey::from_ed_der(&der));
            }
            verifying.insert(kid.clone(), decoding);
            public.insert(kid, key.x);
        }
        if !verifying.contains_key(&doc.current) {
            return Err(KeySetError::NoCurrent(doc.current));
        }
        Ok(Self { current: doc.current, signing, verifying, public })
    }

    /// The key id and key that sign new tokens; `None` in the public copy.
    pub fn signer(&self) -> Option<(&str, &EncodingKey)> {
        self.signing.as_ref().map(|key| (self.current.as_str(), key))
    }

    /// The id of the current key.
    pub fn current_kid(&self) -> &str {
        &self.current
    }

    /// The public copy of a key set document (every key without its `pkcs8`).
    pub fn public_copy(document: &str) -> Result<String, KeySetError> {
        let mut value: Value = serde_json::from_str(document).map_err(|e| KeySetError::Shape(e.to_string()))?;
        for key in value["keys"].as_object_mut().into_iter().flat_map(|keys| keys.values_mut()) {
            if let Some(key) = key.as_object_mut() {
                key.remove("pkcs8");
            }
        }
        Ok(value.to_string())
    }

    /// The key that verifies tokens carrying `kid`, if the set has it.
    pub fn verifier(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifying.get(kid)
    }

    /// The public JWK set (RFC 7517), every key of the set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .public
            .iter()
            .map(|(kid, x)| json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x}))
            .collect();
        json!({ "keys": keys })
    }

    /// The only algorithm any key of a set signs with.
    pub const ALGORITHM: Algorithm = Algorithm::EdDSA;
}

/// The key set of a warm Lambda: read through the secrets cache (so a rotation is seen
/// within its TTL) and parsed once per distinct secret value.
pub struct SigningKeys<S> {
    keys: crate::secrets::Parsed<S, KeySet>,
    last_reload: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

/// How often [`SigningKeys::reload_if_due`] may read the secret again.
const RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

impl<S: crate::secrets::SecretSource> SigningKeys<S> {
    pub fn new(secrets: crate::secrets::SecretCache<S>, secret_id: String) -> Self {
        let parse = |document: &str| KeySet::parse(document).map_err(crate::ApiError::internal);
        Self {
            keys: crate::secrets::Parsed::new(secrets, secret_id, parse),
            last_reload: tokio::sync::Mutex::new(None),
        }
    }

    /// The current key set; an unusable secret is an internal error (logged, never shown).
    pub async fn get(&self) -> Result<Arc<KeySet>, crate::ApiError> {
        self.keys.get().await
    }

    /// Reads the secret again before its TTL (a token may carry a key rotated in since),
    /// at most once per 10 s; `Some` with the set when it was read and has changed.
    pub async fn reload_if_due(&self) -> Result<Option<Arc<KeySet>>, crate::ApiError> {
        {
            let mut last = self.last_reload.lock().await;
            if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
                return Ok(None);
            }
            *last = Some(tokio::time::Instant::now());
        }
        self.keys.refresh().await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{Ed25519KeyPair, KeyPair},
    };
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// A key entry as the local bootstrap and the rotation command write it.
    pub(crate) fn key_entry() -> Value {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        json!({"alg": "EdDSA", "pkcs8": STANDARD.encode(pkcs8.as_ref()), "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())})
    }

    pub(crate) fn key_set(kids: &[&str], current: &str) -> String {
        let keys: serde_json::Map<String, Value> = kids.iter().map(|k| (k.to_string(), key_entry())).collect();
        json!({"current": current, "keys": keys}).to_string()
    }

    #[test]
    fn given_two_keys_when_parsed_then_current_signs_and_both_verify_and_publish() {
        let set = KeySet::parse(&key_set(&["old", "new"], "new")).unwrap();
        assert_eq!(set.signer().unwrap().0, "new");
        assert!(set.verifier("old").is_some() && set.verifier("new").is_some() && set.verifier("other").is_none());
        let jwks = set.jwks();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, ["new", "old"]);
        assert!(!jwks.to_string().contains("pkcs8"), "no private material is published");
    }

    #[test]
    fn given_the_public_copy_when_parsed_then_it_verifies_but_cannot_sign() {
        let document = key_set(&["k1", "k2"], "k2");
        let public = KeySet::public_copy(&document).unwrap();
        assert!(!public.contains("pkcs8"));
        let set = KeySet::parse(&public).unwrap();
        assert!(set.signer().is_none());
        assert!(set.verifier("k1").is_some() && set.verifier("k2").is_some());
        assert_eq!(set.current_kid(), "k2");
        assert_eq!(set.jwks(), KeySet::parse(&document).unwrap().jwks());
    }

    #[test]
    fn given_a_current_kid_not_in_the_set_when_parsed_then_refused() {
        assert_eq!(KeySet::parse(&key_set(&["a"], "b")).unwrap_err(), KeySetError::NoCurrent("b".into()));
    }

    #[test]
    fn given_an_empty_or_foreign_secret_when_parsed_then_refused() {
        assert!(matches!(KeySet::parse(""), Err(KeySetError::Shape(_))));
        assert!(matches!(
            KeySet::parse(r#"{"current":"a","keys":{"a":{"alg":"HS256","pkcs8":"","x":""}}}"#),
            Err(KeySetError::Key { .. })
        ));
    }

    #[test]
    fn given_a_key_set_when_debug_printed_then_no_key_material() {
        let text = format!("{:?}", KeySet::parse(&key_set(&["k1"], "k1")).unwrap());
        assert!(text.contains("k1") && !text.contains("pkcs8"));
    }
}
