//! `POST /v1/auth/login` `{email, password}` → 200 tokens. An unknown email and a wrong
//! password get the same 401 after the same argon2 work. Failed attempts are limited per
//! client address, per account from one address (tight), and per account from anywhere
//! (a ceiling, so strangers cannot lock the owner out); a slot of each is taken before
//! the password is checked (so parallel guesses cannot overrun a limit) and given back
//! when it was right.

use ballot_core::ids;
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{
        accounts::{Login, Tokens, normalize_email},
        keys::SigningKeys,
        password,
        token::{self, TokenKind, TokenSettings},
    },
    aws::secretsmanager,
    body, http,
    {config::Window, store::Store},
};

struct Deps {
    store: Store,
    keys: SigningKeys<secretsmanager::Client>,
    settings: TokenSettings,
    per_account: Window,
    per_account_address: Window,
    per_address: Window,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    password::warm_up();
    let limits = &app.config.limits;
    let deps = Deps {
        store: app.store(),
        keys: app.signing_keys(),
        settings: app.config.tokens.clone(),
        per_account: limits.window(limits.logins_per_account),
        per_account_address: limits.window(limits.logins_per_account_address),
        per_address: limits.window(limits.logins_per_address),
    };
    http::serve_with(app.cors(), deps, |deps, req| async move { login(&deps, &req).await }).await
}

async fn login(deps: &Deps, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let input: Login = body::json(req)?;
    let email = normalize_email(&input.email);
    let address = http::source_ip(req);
    let slots = [
        deps.store.take_slot("login-address", &address, deps.per_address).await?,
        deps.store.take_slot("login-account-address", &format!("{email}\n{address}"), deps.per_account_address).await?,
        deps.store.take_slot("login-account", &email, deps.per_account).await?,
    ];
    let credentials = deps.store.credentials(&email).await?;
    let hash = credentials.as_ref().filter(|c| !c.user.disabled).map(|c| c.password_hash.clone());
    let accepted = password::verify_or_waste(input.password, hash).await?;
    let Some(credentials) = credentials.filter(|_| accepted) else {
        return Err(ApiError::Unauthorized);
    };
    for slot in slots {
        deps.store.give_back(slot).await?;
    }
    let user = credentials.user;
    let keys = deps.keys.get().await?;
    let (access_token, expires_in) =
        token::issue(&keys, &deps.settings, &user.id, &user.roles, TokenKind::Access, ids::random_id())
            .map_err(ApiError::internal)?;
    let refresh_token = deps.store.start_session(&user.id).await?;
    tracing::info!(user = %user.id, "signed in");
    http::json(StatusCode::OK, &Tokens::bearer(access_token, expires_in, Some(refresh_token)))
}
