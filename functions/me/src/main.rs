//! `GET /v1/me`: the caller. An account answers its profile; a guest, who has none,
//! `{"id","roles":["guest"]}`.

use lambda_http::{Request, http::StatusCode};
use shared::{ApiError, app::App, http, identity::caller_of, store::Store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move { me(&store, &req).await }).await
}

async fn me(store: &Store, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let caller = caller_of(req)?;
    if caller.is_guest() {
        return http::json(StatusCode::OK, &serde_json::json!({"id": caller.sub, "roles": caller.roles}));
    }
    // The authorizer let the token through, so a missing account was deleted since.
    let user = store.user(&caller.sub).await?.ok_or(ballot_core::Error::NotFound)?;
    http::json(StatusCode::OK, &user)
}
