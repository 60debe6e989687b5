//! Standard Webhooks (standardwebhooks.com) signatures.
//!
//! A secret is `whsec_` + base64 of 32 random bytes; the key is those bytes. A delivery is
//! signed over `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256 and sent as
//! `webhook-signature: v1,<base64>`. Receivers compare in constant time and refuse
//! timestamps too far from now (replays).

use aws_lc_rs::{constant_time, hmac};
use base64::{Engine, engine::general_purpose::STANDARD};

const PREFIX: &str = "whsec_";
/// How far a timestamp may be from now for [`verify`] (the spec's suggestion).
pub const TOLERANCE_SECS: u64 = 300;

/// A new secret: `whsec_` and 32 random bytes, base64.
pub fn new_secret() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("the system random source works");
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

fn key(secret: &str) -> Option<hmac::Key> {
    let bytes = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    (!bytes.is_empty()).then(|| hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// The `webhook-signature` header value for one delivery; `None` for a malformed secret.
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Option<String> {
    let mut context = hmac::Context::with_key(&key(secret)?);
    context.update(format!("{id}.{timestamp}.").as_bytes());
    context.update(body);
    Some(format!("v1,{}", STANDARD.encode(context.sign().as_ref())))
}

/// Whether `header` (space-separated `v1,<sig>` entries) holds a valid signature of the
/// delivery, and its timestamp is within [`TOLERANCE_SECS`] of `now`.
pub fn verify(secret: &str, id: &str, timestamp: u64, body: &[u8], header: &str, now: u64) -> bool {
    if timestamp.abs_diff(now) > TOLERANCE_SECS {
        return false;
    }
    let Some(expected) = sign(secret, id, timestamp, body) else { return false };
    header
        .split(' ')
        .any(|candidate| constant_time::verify_slices_are_equal(candidate.as_bytes(), expected.as_bytes()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: u64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn given_the_specification_example_when_signed_then_the_signature_matches() {
        assert_eq!(sign(SECRET, ID, TIMESTAMP, BODY).unwrap(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn given_a_signed_delivery_when_verified_then_tampering_and_old_timestamps_fail() {
        let header = format!("v1,bogus {}", sign(SECRET, ID, TIMESTAMP, BODY).unwrap());
        assert!(verify(SECRET, ID, TIMESTAMP, BODY, &header, TIMESTAMP + 10));
        assert!(!verify(SECRET, ID, TIMESTAMP, br#"{"test": 1}"#, &header, TIMESTAMP));
        assert!(!verify(SECRET, "msg_other", TIMESTAMP, BODY, &header, TIMESTAMP));
        assert!(!verify(SECRET, ID, TIMESTAMP, BODY, &header, TIMESTAMP + TOLERANCE_SECS + 1));
        assert!(!verify(&new_secret(), ID, TIMESTAMP, BODY, &header, TIMESTAMP));
    }

    #[test]
    fn given_new_secrets_then_they_differ_and_sign() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && sign(&a, ID, TIMESTAMP, BODY).is_some());
        assert!(sign("not-a-secret", ID, TIMESTAMP, BODY).is_none());
    }
}
