//! `GET /v1/me`: the caller. An account answers its profile; a guest, who has none,
//! `{"id","roles":["guest"]}`.

use std::sync::Arc;

use lambda_http::http::StatusCode;
use shared::{ApiError, aws::AwsClients, config::Config, http, identity::Caller, store::Store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let store = Arc::new(Store::new(aws.dynamodb.clone(), config.table_name.clone()));
    http::serve(http::Cors::new(config.cors_allowed_origins), move |req| {
        let store = Arc::clone(&store);
        async move {
            let caller = Caller::of(&req)?;
            if caller.token_kind == "guest" {
                return http::json(StatusCode::OK, &serde_json::json!({"id": caller.sub, "roles": caller.roles}));
            }
            // The authorizer let the token through, so a missing account was deleted since.
            let user = store.user(&caller.sub).await?.ok_or(ApiError::NotFound)?;
            http::json(StatusCode::OK, &user)
        }
    })
    .await
}
