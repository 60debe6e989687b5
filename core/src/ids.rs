//! Random, unguessable identifiers.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// 128 random bits as 22 base64url characters.
pub fn random_id() -> String {
    random_token(16)
}

/// SHA-256 of `text`, hex: how secrets (refresh tokens) and personal keys (emails, IPs in
/// rate-limit keys) are stored, so the table never holds them in the clear.
pub fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` random bytes as base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).expect("the system random source works");
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_text_when_hashed_then_the_known_sha256() {
        assert_eq!(super::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn given_two_ids_when_made_then_they_differ_and_are_url_safe() {
        let (a, b) = (super::random_id(), super::random_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
