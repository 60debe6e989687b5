//! Opaque, tamper-evident page cursors: the position (a DynamoDB `LastEvaluatedKey`) is
//! signed with the key set like a token, with its own `typ` and a purpose, so a cursor
//! cannot be forged, edited, used on another listing, or passed off as an access token.
//! Cursors expire after an hour and survive key rotations like tokens do.

use jsonwebtoken::{Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ApiError, auth::keys::KeySet, clock::epoch_secs};

const CURSOR_TYPE: &str = "cursor+jwt";
const LIFETIME_SECS: u64 = 3600;

#[derive(Serialize, Deserialize)]
struct Claims {
    /// Which listing the cursor belongs to.
    aud: String,
    exp: u64,
    /// The position.
    pos: Value,
}

/// Seals `position` for the listing `purpose`.
pub fn seal(keys: &KeySet, purpose: &str, position: &Value) -> Result<String, ApiError> {
    let (kid, key) = keys.signer().ok_or_else(|| ApiError::internal("cursors need the signing key set"))?;
    let mut header = Header::new(KeySet::ALGORITHM);
    header.typ = Some(CURSOR_TYPE.into());
    header.kid = Some(kid.into());
    let claims = Claims { aud: purpose.into(), exp: epoch_secs() + LIFETIME_SECS, pos: position.clone() };
    encode(&header, &claims, key).map_err(ApiError::internal)
}

/// The position sealed in `cursor`, or 400 for anything that is not a live cursor of `purpose`.
pub fn open(keys: &KeySet, purpose: &str, cursor: &str) -> Result<Value, ApiError> {
    let invalid = || ApiError::BadRequest("The cursor is invalid or expired; start from the first page.".into());
    if cursor.len() > 4096 {
        return Err(invalid());
    }
    let header = decode_header(cursor).map_err(|_| invalid())?;
    if header.typ.as_deref() != Some(CURSOR_TYPE) || header.alg != KeySet::ALGORITHM {
        return Err(invalid());
    }
    let key = header.kid.as_deref().and_then(|kid| keys.verifier(kid)).ok_or_else(invalid)?;
    let mut validation = Validation::new(KeySet::ALGORITHM);
    validation.set_audience(&[purpose]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    decode::<Claims>(cursor, key, &validation).map(|data| data.claims.pos).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::tests::key_set;
    use serde_json::json;

    fn keys() -> KeySet {
        KeySet::parse(&key_set(&["k1"], "k1")).unwrap()
    }

    #[test]
    fn given_a_sealed_position_when_opened_then_it_comes_back() {
        let keys = keys();
        let cursor = seal(&keys, "admin-users", &json!({"pk": "USER#1"})).unwrap();
        assert_eq!(open(&keys, "admin-users", &cursor).unwrap(), json!({"pk": "USER#1"}));
    }

    #[test]
    fn given_a_forged_edited_or_foreign_cursor_when_opened_then_400() {
        let keys = keys();
        let cursor = seal(&keys, "admin-users", &json!({"pk": "USER#1"})).unwrap();
        let (head, rest) = cursor.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let edited = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(json!({"aud": "admin-users", "exp": u64::MAX, "pos": {"pk": "USER#2"}}).to_string())
        );
        let other_set = seal(&KeySet::parse(&key_set(&["k1"], "k1")).unwrap(), "admin-users", &json!({})).unwrap();
        for bad in [edited.as_str(), "garbage", "", other_set.as_str()] {
            assert_eq!(open(&keys, "admin-users", bad).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(open(&keys, "my-polls", &cursor).unwrap_err().status(), 400, "another listing's cursor");
    }
}
