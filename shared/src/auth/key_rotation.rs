//! Making and rotating the JWT signing key set ([`super::keys`]): a new Ed25519 key
//! becomes current, the previous ones stay to verify the tokens they signed, and the public
//! copy is written before the private set, so verifiers know a key before anything signs
//! with it. `make rotate-keys` rotates; the deploy's first-key custom resource makes the
//! first set when there is none.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::json;

use super::keys::KeySet;

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
    let kid = format!("k{created_at}-{}", ballot_core::ids::random_token(4));
    let key = json!({"alg": "EdDSA", "pkcs8": STANDARD.encode(pkcs8.as_ref()),
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()), "created_at": created_at});
    Ok((kid, key))
}

/// What [`rotate_signing_keys`] or [`ensure_signing_keys`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The current key's id afterwards.
    pub kid: String,
    /// Whether a key was made (false: [`ensure_signing_keys`] found a set).
    pub created: bool,
}

/// Adds a new current key to the key set in `secret_id` (making the set if the secret has
/// none yet); the previous keys stay. The public copy in `verification_id` is written first.
pub async fn rotate_signing_keys(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    verification_id: &str,
) -> Result<Rotated, BoxError> {
    let set = match current_set(secrets, secret_id).await? {
        Some(set) => rotate(&set)?,
        None => new_key_set()?,
    };
    write(secrets, secret_id, verification_id, &set).await
}

/// Makes the first key set when `secret_id` has none (no value, or an empty one): what a
/// fresh stack needs to sign tokens, safe to run on every deploy. A set there is kept;
/// one that does not parse is an error, never replaced (that would end every live token).
pub async fn ensure_signing_keys(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    verification_id: &str,
) -> Result<Rotated, BoxError> {
    match current_set(secrets, secret_id).await? {
        None => write(secrets, secret_id, verification_id, &new_key_set()?).await,
        Some(set) => {
            let parsed = KeySet::parse(&set).map_err(|e| format!("the signing key set is there but unusable: {e}"))?;
            if parsed.signer().is_none() {
                return Err("the signing key set is there but has no current key".into());
            }
            Ok(Rotated { kid: parsed.current_kid().to_owned(), created: false })
        }
    }
}

/// The set in `secret_id`; `None` while the secret has no value (a deployed secret starts
/// so) or an empty one.
async fn current_set(secrets: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<Option<String>, BoxError> {
    match secrets.get_secret_value().secret_id(secret_id).send().await {
        Ok(value) => Ok(value.secret_string().filter(|s| !s.trim().is_empty()).map(str::to_owned)),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
        Err(err) => Err(aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string().into()),
    }
}

async fn write(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    verification_id: &str,
    set: &str,
) -> Result<Rotated, BoxError> {
    let public = KeySet::public_copy(set)?;
    let put = |id: &str, value: String| secrets.put_secret_value().secret_id(id).secret_string(value).send();
    put(verification_id, public)
        .await
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
    put(secret_id, set.to_owned())
        .await
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
    let kid = KeySet::parse(set)?.current_kid().to_owned();
    Ok(Rotated { kid, created: true })
}

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
        let parsed = KeySet::parse(&set).unwrap();
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
