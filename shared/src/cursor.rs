//! Opaque, tamper-evident page cursors: the position (a DynamoDB `LastEvaluatedKey`) is
//! signed with HMAC-SHA256 under a cursor key of its own (`CURSOR_KEY_SECRET_ID`), with
//! its own `typ` and a purpose, so a cursor cannot be forged, edited, used on another
//! listing, or passed off as an access token. Listings never need the token signing keys.
//! Cursors expire after an hour.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ApiError;
use ballot_core::clock::epoch_secs;

const CURSOR_TYPE: &str = "cursor+jwt";
const ALGORITHM: Algorithm = Algorithm::HS256;
const LIFETIME_SECS: u64 = 3600;

#[derive(Serialize, Deserialize)]
struct Claims {
    /// Which listing the cursor belongs to.
    aud: String,
    exp: u64,
    /// The position.
    pos: Value,
}

/// The key that seals and opens cursors. `Debug` shows no key material.
#[derive(Clone)]
pub struct CursorKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

impl CursorKey {
    /// A key from a secret's value; at least 32 bytes, or it is refused.
    pub fn new(secret: &str) -> Result<Self, ApiError> {
        if secret.len() < 32 {
            return Err(ApiError::internal("the cursor key secret is shorter than 32 bytes"));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        })
    }

    /// Seals `position` for the listing `purpose`.
    pub fn seal(&self, purpose: &str, position: &Value) -> Result<String, ApiError> {
        let mut header = Header::new(ALGORITHM);
        header.typ = Some(CURSOR_TYPE.into());
        let claims = Claims { aud: purpose.into(), exp: epoch_secs() + LIFETIME_SECS, pos: position.clone() };
        encode(&header, &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Where a page starts: the position in the caller's `cursor` parameter, if any.
    pub fn start(&self, purpose: &str, cursor: Option<String>) -> Result<Option<Value>, ApiError> {
        cursor.map(|c| self.open(purpose, &c)).transpose()
    }

    /// The `next_cursor` of a page that ends at `next` (`None` on the last page).
    pub fn next(&self, purpose: &str, next: Option<Value>) -> Result<Option<String>, ApiError> {
        next.map(|position| self.seal(purpose, &position)).transpose()
    }

    /// The position sealed in `cursor`, or 400 for anything that is not a live cursor of `purpose`.
    pub fn open(&self, purpose: &str, cursor: &str) -> Result<Value, ApiError> {
        let invalid = || {
            ApiError::Domain(ballot_core::Error::Validation(vec![ballot_core::FieldError::parameter(
                "cursor",
                "is invalid or expired; start from the first page",
            )]))
        };
        if cursor.len() > 4096 {
            return Err(invalid());
        }
        let header = decode_header(cursor).map_err(|_| invalid())?;
        if header.typ.as_deref() != Some(CURSOR_TYPE) || header.alg != ALGORITHM {
            return Err(invalid());
        }
        let mut validation = Validation::new(ALGORITHM);
        validation.set_audience(&[purpose]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        decode::<Claims>(cursor, &self.decoding, &validation).map(|data| data.claims.pos).map_err(|_| invalid())
    }
}

/// The cursor key of a warm Lambda, read through the secrets cache.
pub type CursorKeys<S> = crate::secrets::Parsed<S, CursorKey>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> CursorKey {
        CursorKey::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn given_a_sealed_position_when_opened_then_it_comes_back() {
        let key = key();
        let cursor = key.seal("admin-users", &json!({"pk": "USER#1"})).unwrap();
        assert_eq!(key.open("admin-users", &cursor).unwrap(), json!({"pk": "USER#1"}));
    }

    #[test]
    fn given_a_forged_edited_or_foreign_cursor_when_opened_then_400() {
        let key = key();
        let cursor = key.seal("admin-users", &json!({"pk": "USER#1"})).unwrap();
        let (head, rest) = cursor.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let edited = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(json!({"aud": "admin-users", "exp": u64::MAX, "pos": {"pk": "USER#2"}}).to_string())
        );
        let other_key = CursorKey::new("another key of at least thirty-two bytes").unwrap();
        let foreign = other_key.seal("admin-users", &json!({})).unwrap();
        for bad in [edited.as_str(), "garbage", "", foreign.as_str()] {
            assert_eq!(key.open("admin-users", bad).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(key.open("my-polls", &cursor).unwrap_err().status(), 400, "another listing's cursor");
    }

    #[test]
    fn given_a_short_secret_when_made_then_refused() {
        assert!(CursorKey::new("short").is_err());
    }
}
