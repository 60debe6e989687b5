//! Accounts: what one is ([`User`]), what register, login and refresh accept and the
//! rules on them, what roles an account may hold, and that an admin cannot lock
//! themselves out.

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidateEmail, ValidationError};

use crate::{
    Error,
    access::{Principal, Role},
};

/// An account as clients see it (`GET /v1/me`, registration, admin listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub created_at: String,
    #[serde(default)]
    pub disabled: bool,
    /// Whether the owner of `email` has shown they read its mail (a verification or a
    /// password-reset link), or the issuer of a federated identity vouched for it.
    #[serde(default)]
    pub email_verified: bool,
    /// The account's sign-in epoch: a password reset moves it on, and every access token
    /// and refresh-token family of an older epoch is refused from then on. Never shown
    /// to clients: the store keeps it beside the password hash.
    #[serde(skip)]
    pub epoch: u64,
}

/// An account and its password hash, as login needs them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// `POST /v1/auth/register`.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    #[validate(length(max = 254), custom(function = "email_after_trim"))]
    pub email: String,
    /// Checked against [`crate::passwords::policy_violation`] once the email is known.
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

/// `POST /v1/auth/federated`: a trusted issuer's ID token, to exchange for ballot's tokens.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct IdTokenExchange {
    #[validate(length(min = 1, max = 8192))]
    pub id_token: String,
}

/// `POST /v1/auth/verify-email`: a mailed link's token.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    #[validate(length(min = 1, max = 64))]
    pub token: String,
}

/// `POST /v1/auth/password-reset`.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[validate(length(max = 254), custom(function = "email_after_trim"))]
    pub email: String,
}

/// `POST /v1/auth/password-reset/confirm`.
#[derive(Debug, Deserialize, Serialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    #[validate(length(min = 1, max = 64))]
    pub token: String,
    /// Checked against [`crate::passwords::policy_violation`] once the account is known.
    #[validate(length(min = 1, max = 1024))]
    pub password: String,
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

/// The body of `PATCH /v1/admin/users/{id}`: new roles, a new disabled flag, or both.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "some_change"))]
pub struct AccountChange {
    #[validate(custom(function = "account_roles"))]
    #[serde(default, deserialize_with = "crate::fields::present")]
    pub roles: Option<Vec<Role>>,
    #[serde(default, deserialize_with = "crate::fields::present")]
    pub disabled: Option<bool>,
}

fn some_change(change: &AccountChange) -> Result<(), ValidationError> {
    match (&change.roles, change.disabled) {
        (None, None) => Err(ValidationError::new("empty").with_message("give roles, disabled or both".into())),
        _ => Ok(()),
    }
}

/// Accounts hold 1..=3 distinct roles; `guest` belongs to anonymous tokens only.
fn account_roles(roles: &[Role]) -> Result<(), ValidationError> {
    let mut sorted = roles.to_vec();
    sorted.sort();
    sorted.dedup();
    if roles.is_empty() || sorted.len() != roles.len() || roles.contains(&Role::Guest) {
        return Err(
            ValidationError::new("roles").with_message("must be distinct roles among admin, editor, viewer".into())
        );
    }
    Ok(())
}

impl AccountChange {
    /// Whether `caller` may make this change to account `account_id`: admins only (the
    /// route table already says so; this holds without it), and never disabling or
    /// demoting themselves (no lock-out).
    pub fn allowed_for(&self, caller: &Principal, account_id: &str) -> Result<(), Error> {
        if !caller.has_role(Role::Admin) {
            return Err(Error::Forbidden);
        }
        let demotes_self = self.roles.as_ref().is_some_and(|roles| !roles.contains(&Role::Admin));
        if account_id == caller.sub && (self.disabled == Some(true) || demotes_self) {
            return Err(Error::Conflict("You cannot disable your own account or remove your own admin role.".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::TokenKind;

    fn admin() -> Principal {
        Principal { sub: "a1".into(), roles: vec![Role::Admin], token_kind: TokenKind::Access, email_verified: false }
    }

    #[test]
    fn given_role_lists_when_validated_then_only_distinct_account_roles_pass() {
        let change = |roles: Vec<Role>| AccountChange { roles: Some(roles), disabled: None }.validate().is_ok();
        assert!(change(vec![Role::Editor, Role::Viewer]));
        assert!(!change(vec![]) && !change(vec![Role::Guest]) && !change(vec![Role::Editor, Role::Editor]));
        assert!(AccountChange { roles: None, disabled: None }.validate().is_err());
    }

    #[test]
    fn given_an_admin_when_changing_their_own_account_then_no_lock_out() {
        let disable = AccountChange { roles: None, disabled: Some(true) };
        assert!(matches!(disable.allowed_for(&admin(), "a1"), Err(Error::Conflict(_))));
        assert!(disable.allowed_for(&admin(), "u2").is_ok());
        let demote = AccountChange { roles: Some(vec![Role::Editor]), disabled: None };
        assert!(matches!(demote.allowed_for(&admin(), "a1"), Err(Error::Conflict(_))));
        let editor = Principal {
            sub: "e".into(),
            roles: vec![Role::Editor],
            token_kind: TokenKind::Access,
            email_verified: false,
        };
        assert!(matches!(disable.allowed_for(&editor, "u2"), Err(Error::Forbidden)));
    }
}
