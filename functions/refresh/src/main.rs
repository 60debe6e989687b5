//! `POST /v1/auth/refresh` `{refresh_token}` → 200 new tokens; the old refresh token is
//! spent. Reuse revokes the family; a disabled account cannot refresh
//! (`ballot_core::signing_in::refresh`).

use ballot_core::{accounts::RefreshToken, signing_in};
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError, app::App, auth::accounts::Tokens, auth::issuer::Issuer, aws::secretsmanager, body, http, store::Store,
};

struct Deps {
    store: Store,
    issuer: Issuer<secretsmanager::Client>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), issuer: app.issuer() };
    http::serve_with(app.edge(), deps, |deps, req| async move { refresh(&deps, &req).await }).await
}

async fn refresh(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let input: RefreshToken = body::json(req)?;
    let issued = signing_in::refresh(&deps.store, &deps.store, &deps.issuer, &input.refresh_token).await?;
    http::json(StatusCode::OK, &Tokens::from(issued))
}
