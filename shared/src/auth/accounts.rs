//! Account requests: what register, login, refresh and logout accept, the rules on them,
//! and the token response they share.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidateEmail, ValidationError};

/// `POST /v1/auth/register`.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct Register {
    #[validate(length(max = 254), custom(function = "email_after_trim"))]
    pub email: String,
    /// Checked against [`super::password::policy_violation`] once the email is known.
    pub password: String,
    #[validate(length(min = 1, max = 60), custom(function = "no_control_characters"))]
    pub display_name: String,
}

/// `POST /v1/auth/login`.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[validate(length(min = 1, max = 254))]
    pub email: String,
    #[validate(length(min = 1, max = 1024))]
    pub password: String,
}

/// `POST /v1/auth/refresh` and `POST /v1/auth/logout`.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct RefreshToken {
    #[validate(length(min = 1, max = 512))]
    pub refresh_token: String,
}

/// What login and refresh answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl Tokens {
    pub fn bearer(access_token: String, expires_in: u64, refresh_token: Option<String>) -> Self {
        Self { access_token, token_type: "Bearer".into(), expires_in, refresh_token }
    }
}

/// Emails are unique after trimming and lower-casing.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn email_after_trim(email: &str) -> Result<(), ValidationError> {
    if email.trim().validate_email() {
        Ok(())
    } else {
        Err(ValidationError::new("email").with_message("must be an email address".into()))
    }
}

fn no_control_characters(text: &str) -> Result<(), ValidationError> {
    if text.chars().any(char::is_control) {
        return Err(ValidationError::new("control").with_message("must not contain control characters".into()));
    }
    if text.trim().is_empty() {
        return Err(ValidationError::new("blank").with_message("must not be blank".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiError, body};

    fn register(json: &str) -> Result<Register, ApiError> {
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
