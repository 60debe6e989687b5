//! `POST /v1/auth/guest`: a one-hour access token for an anonymous voter (role `guest`,
//! a fresh random `sub`, no refresh token), limited per client address.

use std::sync::Arc;

use lambda_http::http::StatusCode;
use shared::{
    auth::{
        Role,
        keys::SigningKeys,
        token::{self, TokenKind},
    },
    aws::AwsClients,
    body,
    config::Config,
    http, ids,
    store::{Store, limits::Window},
};

/// The guest endpoint takes no fields: an empty body or `{}`.
#[derive(serde::Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let keys = Arc::new(SigningKeys::from_config(&aws, &config));
    let store = Arc::new(Store::new(aws.dynamodb.clone(), config.table_name.clone()));
    let settings = Arc::new(config.tokens);
    let per_address = Window { limit: config.limits.guests_per_address, seconds: config.limits.window_secs };
    http::serve(http::Cors::new(config.cors_allowed_origins), move |req| {
        let (keys, settings, store) = (Arc::clone(&keys), Arc::clone(&settings), Arc::clone(&store));
        async move {
            body::empty_or_json::<NoFields>(&req)?;
            store.take_slot("guest-address", &http::source_ip(&req), per_address).await?;
            let keys = keys.get().await?;
            let sub = format!("guest-{}", ids::random_id());
            let (access_token, expires_in) =
                token::issue(&keys, &settings, &sub, &[Role::Guest], TokenKind::Guest, ids::random_id())
                    .map_err(shared::ApiError::internal)?;
            let body =
                serde_json::json!({"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in});
            http::json(StatusCode::OK, &body)
        }
    })
    .await
}
