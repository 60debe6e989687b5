//! The token response login, refresh and guest share. What they accept, and the rules
//! on it, are `ballot_core::accounts`.

use serde::{Deserialize, Serialize};

use ballot_core::signing_in::Issued;

/// What login and refresh answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl From<Issued> for Tokens {
    fn from(issued: Issued) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "Bearer".into(),
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ApiError, body};
    use ballot_core::accounts::{NewAccount, normalize_email};

    fn register(json: &str) -> Result<NewAccount, ApiError> {
        body::parse(Some("application/json"), json.as_bytes(), body::DEFAULT_LIMIT)
    }

    #[test]
    fn given_a_good_registration_when_parsed_then_ok() {
        let r = register(r#"{"email":" Ann@Example.COM ","password":"correct horse battery","display_name":"Ann"}"#)
            .unwrap();
        assert_eq!(normalize_email(&r.email), "ann@example.com");
    }

    #[test]
    fn given_bad_fields_when_parsed_then_each_is_named() {
        let err = register(r#"{"email":"nope","password":"x","display_name":"bad\u0007name"}"#).unwrap_err();
        let ApiError::Domain(ballot_core::Error::Validation(errors)) = err else { panic!("{err:?}") };
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["#/display_name", "#/email"]);
        assert_eq!(errors[0].detail, "must not contain control characters");
    }

    #[test]
    fn given_a_long_or_empty_display_name_when_parsed_then_refused() {
        for name in ["", &"n".repeat(61), "   "] {
            let json = format!(r#"{{"email":"a@b.co","password":"correct horse battery","display_name":"{name}"}}"#);
            assert!(register(&json).is_err(), "{name:?}");
        }
    }
}
