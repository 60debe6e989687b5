//! `GET /v1/admin/users?limit&cursor` (admin): accounts newest first. `limit` is 1..=100
//! (default 20); `cursor` is the opaque `next_cursor` of the previous page.

use ballot_core::access::Role;
use lambda_http::{Request, http::StatusCode};
use shared::{ApiError, app::App, aws::secretsmanager, cursor::CursorKeys, http, identity::caller_of, store::Store};

const PURPOSE: &str = "admin-users";

struct Deps {
    store: Store,
    cursors: CursorKeys<secretsmanager::Client>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), cursors: app.cursor_keys() };
    http::serve_with(app.edge(), deps, |deps, req| async move { list(&deps, &req).await }).await
}

async fn list(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    // The authorizer's policy already limits this route to admins; this holds without it.
    if !caller_of(req)?.has_role(Role::Admin) {
        return Err(ApiError::Domain(ballot_core::Error::Forbidden));
    }
    let limit = http::page_limit(req)?;
    let cursors = deps.cursors.get().await?;
    let page = deps.store.list_users(limit, cursors.start(PURPOSE, http::query(req, "cursor"))?).await?;
    let next_cursor = cursors.next(PURPOSE, page.next)?;
    http::json(StatusCode::OK, &serde_json::json!({"users": page.users, "next_cursor": next_cursor}))
}
