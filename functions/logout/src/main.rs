//! `POST /v1/auth/logout` `{refresh_token}` → 204; the token's whole family is revoked.
//! An unknown token also gets 204, so the answer tells nothing about it.

use std::sync::Arc;

use shared::{ApiError, auth::accounts::RefreshToken, aws::AwsClients, body, config::Config, http, store::Store};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let store = Arc::new(Store::new(aws.dynamodb.clone(), config.table_name.clone()));
    http::serve(http::Cors::new(config.cors_allowed_origins), move |req| {
        let store = Arc::clone(&store);
        async move {
            let input: RefreshToken = body::json(&req)?;
            store.end_session(&input.refresh_token).await?;
            Ok::<_, ApiError>(http::no_content())
        }
    })
    .await
}
