//! Passwords: the registration policy, and argon2id hashing (m = 19 MiB, t = 2, p = 1,
//! OWASP's minimum) run on the blocking pool so a hash never stalls the async threads.
//!
//! Invariants: a password is never logged or returned; only its PHC hash is stored;
//! verifying against an unknown account costs the same as against a real one
//! ([`verify_or_waste`]), so timing does not tell which emails exist.

use std::sync::LazyLock;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};

use crate::ApiError;

/// Length bounds, in characters.
pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

/// The common-password list (see `shared/data/README.md`), sorted, one per line.
static COMMON: &str = include_str!("../../data/common-passwords.txt");

/// A fresh 16-byte random salt.
fn salt() -> SaltString {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).expect("the system random source works");
    SaltString::encode_b64(&bytes).expect("16 bytes is a valid salt")
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password may not be used, as a sentence for the client; `None` if it may.
pub fn policy_violation(password: &str, email: &str) -> Option<&'static str> {
    let length = password.chars().count();
    if length < MIN_LEN {
        return Some("must be at least 12 characters");
    }
    if length > MAX_LEN {
        return Some("must be at most 128 characters");
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Some("must not be the email address");
    }
    if is_common(password) {
        return Some("is one of the most common passwords; choose another");
    }
    None
}

fn is_common(password: &str) -> bool {
    static LIST: LazyLock<Vec<&'static str>> = LazyLock::new(|| COMMON.lines().collect());
    LIST.binary_search(&password.to_lowercase().as_str()).is_ok()
}

/// The PHC string of `password` (a fresh random salt each time).
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hasher().hash_password(password.as_bytes(), &salt()).map(|h| h.to_string()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Builds the dummy hash of [`verify_or_waste`] now (call at cold start), so the first
/// login for an unknown email costs no more than any other.
pub fn warm_up() {
    LazyLock::force(&DUMMY);
}

static DUMMY: LazyLock<String> =
    LazyLock::new(|| hasher().hash_password(b"not a password anyone has", &salt()).expect("hash").to_string());

/// Whether `password` matches `phc`; with no hash (unknown account, or one that signs in
/// elsewhere) a dummy hash is verified instead so the answer takes as long, and is `false`.
pub async fn verify_or_waste(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match phc {
            Some(phc) => (phc, true),
            None => (DUMMY.clone(), false),
        };
        let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
        Ok::<_, String>(hasher().verify_password(password.as_bytes(), &parsed).is_ok() && real)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_shipped_list_then_it_is_sorted_and_large() {
        let lines: Vec<&str> = COMMON.lines().collect();
        assert!(lines.len() >= 10_000, "{}", lines.len());
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }

    #[test]
    fn given_candidate_passwords_when_checked_then_the_policy_applies() {
        assert_eq!(policy_violation("short", "a@b.c"), Some("must be at least 12 characters"));
        assert_eq!(policy_violation(&"x".repeat(129), "a@b.c"), Some("must be at most 128 characters"));
        assert_eq!(policy_violation("Alice@Example.com", "alice@example.com"), Some("must not be the email address"));
        assert!(policy_violation("1234567890123", "a@b.c").is_some() || is_common("1234567890"));
        assert_eq!(policy_violation("PASSWORD1234", "a@b.c"), policy_violation("password1234", "a@b.c"));
        assert_eq!(policy_violation("correct horse battery staple", "a@b.c"), None);
    }

    #[test]
    fn given_common_passwords_of_length_when_checked_then_refused() {
        let long_common = COMMON.lines().find(|p| p.chars().count() >= MIN_LEN).expect("a long common password");
        assert!(policy_violation(long_common, "a@b.c").is_some());
        assert!(policy_violation(&long_common.to_uppercase(), "a@b.c").is_some());
    }

    #[tokio::test]
    async fn given_a_hash_when_verified_then_only_the_password_matches() {
        let phc = hash("correct horse battery staple".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_or_waste("correct horse battery staple".into(), Some(phc.clone())).await.unwrap());
        assert!(!verify_or_waste("correct horse battery stapl".into(), Some(phc)).await.unwrap());
        assert!(!verify_or_waste("not a password anyone has".into(), None).await.unwrap());
    }
}
