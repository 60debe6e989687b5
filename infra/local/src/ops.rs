//! Operator commands that never go through the public API: making the first admin, and
//! rotating the signing keys. They run against the configured endpoint (the local stack
//! by default; AWS with `--allow-remote`).

use shared::{
    ApiError,
    auth::{Role, accounts::normalize_email},
    store::{Store, users::UserChange},
};

use crate::keys;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Gives the account registered with `email` the `admin` role (keeping its others).
pub async fn make_admin(store: &Store, email: &str) -> Result<String, BoxError> {
    let email = normalize_email(email);
    let id = store
        .user_id_by_email(&email)
        .await
        .map_err(describe)?
        .ok_or(format!("no account is registered with {email}"))?;
    let user = store.user(&id).await.map_err(describe)?.ok_or("the account disappeared")?;
    let mut roles = user.roles;
    if !roles.contains(&Role::Admin) {
        roles.insert(0, Role::Admin);
    }
    store.update_user(&id, &UserChange { roles: Some(roles), disabled: None }).await.map_err(describe)?;
    Ok(id)
}

/// Adds a new current signing key to the key set in `secret_id`; the previous keys stay
/// (tokens they signed remain valid until they expire). The public copy in
/// `verification_id` is written first, so verifiers know the key before anything signs
/// with it. Returns the new key id.
pub async fn rotate_signing_keys(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    verification_id: &str,
) -> Result<String, BoxError> {
    let current = secrets.get_secret_value().secret_id(secret_id).send().await;
    let set = match current {
        Ok(value) => keys::rotate(value.secret_string().unwrap_or(r#"{"current":"","keys":{}}"#))?,
        // A deployed secret starts empty: the first rotation creates the set.
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => keys::new_key_set()?,
        Err(err) => return Err(err.into()),
    };
    let public = shared::auth::keys::KeySet::public_copy(&set)?;
    secrets.put_secret_value().secret_id(verification_id).secret_string(public).send().await?;
    secrets.put_secret_value().secret_id(secret_id).secret_string(&set).send().await?;
    let parsed: serde_json::Value = serde_json::from_str(&set)?;
    Ok(parsed["current"].as_str().unwrap_or_default().to_owned())
}

fn describe(err: ApiError) -> BoxError {
    match err {
        ApiError::Internal(cause) => cause,
        other => other.to_string().into(),
    }
}
