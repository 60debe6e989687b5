//! Webhook secrets at rest: sealed with AES-256-GCM under the webhook master key
//! (`WEBHOOK_KEY_SECRET_ID` in Secrets Manager), bound to their webhook's id, so a table
//! dump reveals no secret and a sealed secret moved to another webhook does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::{Engine, engine::general_purpose::STANDARD};

use crate::ApiError;

/// The master key. `Debug` shows no key material.
pub struct SealKey(RandomizedNonceKey);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    /// The key from the master secret's value (its SHA-256); at least 32 bytes of secret.
    pub fn new(secret: &str) -> Result<Self, ApiError> {
        if secret.len() < 32 {
            return Err(ApiError::internal("the webhook master key is shorter than 32 bytes"));
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        RandomizedNonceKey::new(&AES_256_GCM, digest.as_ref()).map(Self).map_err(|_| ApiError::internal("bad key"))
    }

    /// `plain` sealed for `owner` (the webhook id): base64 of nonce, ciphertext and tag.
    pub fn seal(&self, plain: &str, owner: &str) -> Result<String, ApiError> {
        let mut data = plain.as_bytes().to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(owner.as_bytes()), &mut data)
            .map_err(|_| ApiError::internal("sealing failed"))?;
        let mut out = nonce.as_ref().to_vec();
        out.extend(data);
        Ok(STANDARD.encode(out))
    }

    /// The secret sealed for `owner`, or `None` if it was not (or was tampered with).
    pub fn open(&self, sealed: &str, owner: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self.0.open_in_place(nonce, Aad::from(owner.as_bytes()), &mut data).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// The table's webhooks with their secrets sealed under the master key: the use cases'
/// [`ballot_core::ports::Webhooks`].
pub struct SealedWebhooks<S> {
    pub store: crate::store::Store,
    pub key: crate::secrets::Parsed<S, SealKey>,
}

impl<S: crate::secrets::SecretSource + Send + Sync> ballot_core::ports::Webhooks for SealedWebhooks<S> {
    async fn create_webhook(
        &self,
        poll_id: &str,
        webhook: &ballot_core::webhooks::Webhook,
        secret: &str,
    ) -> Result<(), ballot_core::Error> {
        let key = self.key.get().await.map_err(ApiError::into_domain)?;
        let sealed = key.seal(secret, &webhook.id).map_err(ApiError::into_domain)?;
        self.store.create_webhook(poll_id, webhook, sealed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_sealed_secret_then_only_its_owner_and_key_open_it() {
        let key = SealKey::new("a master key of at least thirty-two bytes").unwrap();
        let sealed = key.seal("whsec_abc", "wh1").unwrap();
        assert!(!sealed.contains("whsec"));
        assert_ne!(sealed, key.seal("whsec_abc", "wh1").unwrap(), "a fresh nonce each time");
        assert_eq!(key.open(&sealed, "wh1").as_deref(), Some("whsec_abc"));
        assert_eq!(key.open(&sealed, "wh2"), None);
        let other = SealKey::new("another master key, also long enough").unwrap();
        assert_eq!(other.open(&sealed, "wh1"), None);
        assert_eq!(key.open("AAAA", "wh1"), None);
        assert!(SealKey::new("short").is_err());
    }
}
