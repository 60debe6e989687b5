//! Passwords: argon2id hashing (m = 19 MiB, t = 2, p = 1,
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

use ballot_core::Error;

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

/// The PHC string of `password` (a fresh random salt each time).
pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hasher().hash_password(password.as_bytes(), &salt()).map(|h| h.to_string()))
        .await
        .map_err(Error::internal)?
        .map_err(|e| Error::internal(e.to_string()))
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
pub async fn verify_or_waste(password: String, phc: Option<String>) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        // An account without a usable hash (a federated one has none) has no password:
        // refused like an unknown account, after the same work.
        let (phc, real) = match phc.filter(|phc| PasswordHash::new(phc).is_ok()) {
            Some(phc) => (phc, true),
            None => (DUMMY.clone(), false),
        };
        let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
        Ok::<_, String>(hasher().verify_password(password.as_bytes(), &parsed).is_ok() && real)
    })
    .await
    .map_err(Error::internal)?
    .map_err(Error::internal)
}

/// argon2id as the use cases' [`ballot_core::ports::Passwords`].
pub struct Argon2id;

impl ballot_core::ports::Passwords for Argon2id {
    async fn hash(&self, password: String) -> Result<String, Error> {
        hash(password).await
    }

    async fn verify_or_waste(&self, password: String, phc: Option<String>) -> Result<bool, Error> {
        verify_or_waste(password, phc).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn given_a_hash_when_verified_then_only_the_password_matches() {
        let phc = hash("correct horse battery staple".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_or_waste("correct horse battery staple".into(), Some(phc.clone())).await.unwrap());
        assert!(!verify_or_waste("correct horse battery stapl".into(), Some(phc)).await.unwrap());
        assert!(!verify_or_waste("not a password anyone has".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn given_an_account_without_a_usable_hash_when_verified_then_refused_not_failed() {
        for stored in ["", "not-a-hash"] {
            assert!(!verify_or_waste("".into(), Some(stored.into())).await.unwrap(), "{stored:?}");
        }
    }
}
