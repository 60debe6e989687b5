//! Key material for local secrets.

use aws_lc_rs::{
    rand::{SecureRandom, SystemRandom},
    signature::{Ed25519KeyPair, KeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::json;

/// A fresh JWT signing key set with one Ed25519 key, in the shape kept in Secrets Manager:
/// `{"current": kid, "keys": {kid: {"alg": "EdDSA", "pkcs8": <base64 DER>, "x": <base64url public key>}}}`.
pub fn new_key_set() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "cannot generate an Ed25519 key")?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "generated key does not parse")?;
    let kid = format!("local-{}", &random_token(6));
    let key = json!({"alg": "EdDSA", "pkcs8": STANDARD.encode(pkcs8.as_ref()), "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())});
    Ok(json!({"current": kid, "keys": {kid.clone(): key}}).to_string())
}

/// `bytes` random bytes as base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).expect("system randomness");
    URL_SAFE_NO_PAD.encode(buf)
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
}
