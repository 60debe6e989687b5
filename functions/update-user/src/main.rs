//! `PATCH /v1/admin/users/{id}` `{roles?, disabled?}` (admin) → 200 the account. A
//! disabled account cannot sign in or refresh, and the authorizer refuses its tokens
//! within its cache TTL. An admin cannot disable or demote themselves (no lock-out).

use ballot_core::{access::Role, accounts::AccountChange};
use lambda_http::{Request, RequestExt, http::StatusCode};
use shared::{ApiError, app::App, body, http, identity::caller_of, store::Store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move { update(&store, &req).await }).await
}

async fn update(store: &Store, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let caller = caller_of(req)?;
    // Before the body is read: a non-admin learns nothing of the rules.
    if !caller.has_role(Role::Admin) {
        return Err(ApiError::Domain(ballot_core::Error::Forbidden));
    }
    let id = req.path_parameters_ref().and_then(|p| p.first("id")).ok_or(ballot_core::Error::NotFound)?.to_owned();
    let change: AccountChange = body::json(req)?;
    change.allowed_for(&caller, &id)?;
    let user = store.update_user(&id, &change).await?.ok_or(ballot_core::Error::NotFound)?;
    tracing::info!(by = %caller.sub, user = %user.id, disabled = user.disabled, "account changed");
    http::json(StatusCode::OK, &user)
}
