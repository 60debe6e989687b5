//! `PATCH /v1/admin/users/{id}` `{roles?, disabled?}` (admin) → 200 the account. A
//! disabled account cannot sign in or refresh, and the authorizer refuses its tokens
//! within its cache TTL. An admin cannot disable or demote themselves (no lock-out).

use ballot_core::access::Role;
use lambda_http::{Request, RequestExt, http::StatusCode};
use serde::Deserialize;
use shared::{
    ApiError,
    app::App,
    body, http,
    identity::caller_of,
    store::{Store, users::UserChange},
};
use validator::{Validate, ValidationError};

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "some_change"))]
struct Change {
    #[validate(custom(function = "account_roles"))]
    roles: Option<Vec<Role>>,
    disabled: Option<bool>,
}

fn some_change(change: &Change) -> Result<(), ValidationError> {
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

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.store(), |store, req| async move { update(&store, &req).await }).await
}

async fn update(store: &Store, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let caller = caller_of(req)?;
    // The authorizer's policy already limits this route to admins; this holds without it.
    if !caller.has_role(Role::Admin) {
        return Err(ApiError::Forbidden);
    }
    let id = req.path_parameters_ref().and_then(|p| p.first("id")).ok_or(ApiError::NotFound)?.to_owned();
    let change: Change = body::json(req)?;
    let demotes_self = change.roles.as_ref().is_some_and(|roles| !roles.contains(&Role::Admin));
    if id == caller.sub && (change.disabled == Some(true) || demotes_self) {
        return Err(ApiError::Conflict("You cannot disable your own account or remove your own admin role.".into()));
    }
    let user = store
        .update_user(&id, &UserChange { roles: change.roles, disabled: change.disabled })
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(by = %caller.sub, user = %user.id, disabled = user.disabled, "account changed");
    http::json(StatusCode::OK, &user)
}
