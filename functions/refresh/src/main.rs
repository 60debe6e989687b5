//! `POST /v1/auth/refresh` `{refresh_token}` → 200 new tokens; the old refresh token is
//! spent. Reuse revokes the family; a disabled account cannot refresh.

use ballot_core::ids;
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{
        accounts::{RefreshToken, Tokens},
        keys::SigningKeys,
        token::{self, TokenKind, TokenSettings},
    },
    aws::secretsmanager,
    body, http,
    store::Store,
};

struct Deps {
    store: Store,
    keys: SigningKeys<secretsmanager::Client>,
    settings: TokenSettings,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), keys: app.signing_keys(), settings: app.config.tokens.clone() };
    http::serve_with(app.cors(), deps, |deps, req| async move { refresh(&deps, &req).await }).await
}

async fn refresh(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let input: RefreshToken = body::json(req)?;
    let (user_id, refresh_token) = match deps.store.rotate_session(&input.refresh_token).await? {
        Ok(rotated) => rotated,
        Err(refused) => {
            tracing::info!(?refused, "refresh refused");
            return Err(ApiError::Unauthorized);
        }
    };
    let user = deps.store.user(&user_id).await?.filter(|u| !u.disabled).ok_or(ApiError::Unauthorized)?;
    let keys = deps.keys.get().await?;
    let (access_token, expires_in) =
        token::issue(&keys, &deps.settings, &user.id, &user.roles, TokenKind::Access, ids::random_id())
            .map_err(ApiError::internal)?;
    http::json(StatusCode::OK, &Tokens::bearer(access_token, expires_in, Some(refresh_token)))
}
