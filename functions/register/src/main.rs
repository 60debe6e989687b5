//! `POST /v1/auth/register` `{email, password, display_name}` → 201 `{"user": …}`.

use ballot_core::{FieldError, clock, ids};
use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError,
    app::App,
    auth::{
        Role,
        accounts::{Register, normalize_email},
        password,
    },
    body, http,
    store::{Store, users::User},
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.store(), |store, req| async move { register(&store, &req).await }).await
}

async fn register(store: &Store, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let input: Register = body::json(req)?;
    let email = normalize_email(&input.email);
    if let Some(problem) = password::policy_violation(&input.password, &email) {
        return Err(ApiError::Domain(ballot_core::Error::Validation(vec![FieldError::new("#/password", problem)])));
    }
    let user = User {
        id: ids::random_id(),
        email,
        display_name: input.display_name.trim().to_owned(),
        roles: vec![Role::Editor],
        created_at: clock::rfc3339_now(),
        disabled: false,
    };
    store.create_user(&user, password::hash(input.password).await?).await?;
    tracing::info!(user = %user.id, "account created");
    http::json(StatusCode::CREATED, &serde_json::json!({ "user": user }))
}
