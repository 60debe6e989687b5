//! `GET /v1/admin/users?limit&cursor` (admin): accounts newest first. `limit` is 1..=100
//! (default 20); `cursor` is the opaque `next_cursor` of the previous page.

use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{Role, keys::SigningKeys},
    aws::secretsmanager,
    cursor, http,
    identity::Caller,
    store::Store,
};

const PURPOSE: &str = "admin-users";

struct Deps {
    store: Store,
    keys: SigningKeys<secretsmanager::Client>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), keys: app.signing_keys() };
    http::serve_with(app.cors(), deps, |deps, req| async move { list(&deps, &req).await }).await
}

async fn list(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    // The authorizer's policy already limits this route to admins; this holds without it.
    if !Caller::of(req)?.has_role(Role::Admin.as_str()) {
        return Err(ApiError::Forbidden);
    }
    let limit = http::page_limit(req)?;
    let keys = deps.keys.get().await?;
    let start = http::query(req, "cursor").map(|c| cursor::open(&keys, PURPOSE, &c)).transpose()?;
    let page = deps.store.list_users(limit, start).await?;
    let next_cursor = page.next.map(|position| cursor::seal(&keys, PURPOSE, &position)).transpose()?;
    http::json(StatusCode::OK, &serde_json::json!({"users": page.users, "next_cursor": next_cursor}))
}
