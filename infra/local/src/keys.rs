//! Key material for local secrets.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::json;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many keys a set keeps: the current one and the previous ones whose tokens may
/// still be live. Rotating more often than tokens live (15 min, 1 h for guests) would
/// drop a key too early.
pub const KEYS_KEPT: usize = 3;

/// A fresh JWT signing key set with one Ed25519 key, in the shape kept in Secrets Manager:
/// `{"current": kid, "keys": {kid: {"alg": "EdDSA", "pkcs8": <base64 DER>, "x": <base64url public key>, "created_at": <epoch>}}}`.
pub fn new_key_set() -> Result<String, BoxError> {
    rotate(r#"{"current": "", "keys": {}}"#)
}

/// `set` with a new current key; the oldest keys beyond [`KEYS_KEPT`] are dropped.
pub fn rotate(set: &str) -> Result<String, BoxError> {
    let mut set: serde_json::Value = serde_json::from_str(set).map_err(|e| format!("the key set is not JSON: {e}"))?;
    let keys = set["keys"].as_object_mut().ok_or("the key set has no keys object")?;
    let (kid, key) = new_key()?;
    keys.insert(kid.clone(), key);
    // The previous keys, newest first; beyond the ones kept they go.
    let mut previous: Vec<(u64, String)> = keys
        .iter()
        .filter(|(k, _)| **k != kid)
        .map(|(k, v)| (v["created_at"].as_u64().unwrap_or(0), k.clone()))
        .collect();
    previous.sort_by(|a, b| b.cmp(a));
    for (_, old) in previous.iter().skip(KEYS_KEPT - 1) {
        keys.remove(old);
    }
    set["current"] = json!(kid);
    Ok(set.to_string())
}

fn new_key() -> Result<(String, serde_json::Value), BoxError> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "cannot generate an Ed25519 key")?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "generated key does not parse")?;
    let created_at = ballot_core::clock::epoch_secs();
    let kid = format!("k{created_at}-{}", random_token(4));
    let key = json!({"alg": "EdDSA", "pkcs8": STANDARD.encode(pkcs8.as_ref()),
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()), "created_at": created_at});
    Ok((kid, key))
}

pub use ballot_core::ids::random_token;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_new_key_set_when_read_then_the_current_key_parses_and_matches_x() {
        let set: serde_json::Value = serde_json::from_str(&new_key_set().unwrap()).unwrap();
        let kid = set["current"].as_str().unwrap();
        let key = &set["keys"][kid];
        let pkcs8 = STANDARD.decode(key["pkcs8"].as_str().unwrap()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()), key["x"]);
        assert_ne!(new_key_set().unwrap(), new_key_set().unwrap());
    }

    #[test]
    fn given_a_set_when_rotated_then_a_new_current_key_and_at_most_three_kept() {
        let first = new_key_set().unwrap();
        let mut set = first.clone();
        for _ in 0..4 {
            set = rotate(&set).unwrap();
        }
        let parsed = shared::auth::keys::KeySet::parse(&set).unwrap();
        let value: serde_json::Value = serde_json::from_str(&set).unwrap();
        assert_eq!(value["keys"].as_object().unwrap().len(), KEYS_KEPT);
        let once = rotate(&first).unwrap();
        let once: serde_json::Value = serde_json::from_str(&once).unwrap();
        let old_kid = serde_json::from_str::<serde_json::Value>(&first).unwrap()["current"].clone();
        assert!(once["keys"].get(old_kid.as_str().unwrap()).is_some(), "the previous key stays");
        assert_ne!(once["current"], old_kid);
        assert_eq!(parsed.jwks()["keys"].as_array().unwrap().len(), KEYS_KEPT);
    }
}
