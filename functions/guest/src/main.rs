//! `POST /v1/auth/guest`: a one-hour access token for an anonymous voter (role `guest`,
//! a fresh random `sub`, no refresh token).

use std::sync::Arc;

use lambda_http::http::StatusCode;
use shared::{
    auth::{
        Role,
        keys::SigningKeys,
        token::{self, TokenKind},
    },
    aws::AwsClients,
    config::Config,
    http, ids,
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let keys = Arc::new(SigningKeys::from_config(&aws, &config));
    let settings = Arc::new(config.tokens);
    http::serve(http::Cors::new(config.cors_allowed_origins), move |_req| {
        let (keys, settings) = (Arc::clone(&keys), Arc::clone(&settings));
        async move {
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
