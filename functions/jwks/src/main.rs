//! `GET /.well-known/jwks.json`: every public key of the signing key set (RFC 7517), so
//! tokens signed before a rotation can still be verified by others. Cacheable.

use std::sync::Arc;

use lambda_http::{
    Body, Response,
    http::{HeaderValue, StatusCode, header::CACHE_CONTROL},
};
use shared::{ApiError, auth::keys::SigningKeys, aws::AwsClients, config::Config, http};

/// Clients may cache the set for as long as warm Lambdas cache the secret.
const CACHE_CONTROL_VALUE: &str = "public, max-age=300";

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let keys = Arc::new(SigningKeys::from_config(&aws, &config));
    http::serve(http::Cors::new(config.cors_allowed_origins), move |_req| {
        let keys = Arc::clone(&keys);
        async move { jwks(&keys.get().await?.jwks()) }
    })
    .await
}

fn jwks(set: &serde_json::Value) -> Result<Response<Body>, ApiError> {
    let mut response = http::json(StatusCode::OK, set)?;
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL_VALUE));
    Ok(response)
}
