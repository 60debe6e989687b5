//! `POST /v1/auth/register` `{email, password, display_name}` → 201 `{"user": …}`.

use std::sync::Arc;

use lambda_http::{Request, http::StatusCode};
use shared::{
    ApiError, FieldError,
    auth::{
        Role,
        accounts::{Register, normalize_email},
        password,
    },
    aws::AwsClients,
    body, clock,
    config::Config,
    http, ids,
    store::{Store, users::User},
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let store = Arc::new(Store::new(aws.dynamodb.clone(), config.table_name.clone()));
    http::serve(http::Cors::new(config.cors_allowed_origins), move |req| {
        let store = Arc::clone(&store);
        async move { register(&store, &req).await }
    })
    .await
}

async fn register(store: &Store, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let input: Register = body::json(req)?;
    let email = normalize_email(&input.email);
    if let Some(problem) = password::policy_violation(&input.password, &email) {
        return Err(ApiError::Validation(vec![FieldError::new("#/password", problem)]));
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
