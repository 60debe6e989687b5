//! `GET /.well-known/jwks.json`: every public key of the signing key set (RFC 7517), so
//! tokens signed before a rotation can still be verified by others. Cacheable.

use lambda_http::{
    Body, Response,
    http::{HeaderValue, StatusCode, header::CACHE_CONTROL},
};
use shared::{ApiError, app::App, http};

/// Clients may cache the set for as long as warm Lambdas cache the secret.
const CACHE_CONTROL_VALUE: &str = "public, max-age=300";

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.verification_keys(), |keys, _req| async move { jwks(&keys.get().await?.jwks()) })
        .await
}

fn jwks(set: &serde_json::Value) -> Result<Response<Body>, ApiError> {
    let mut response = http::json(StatusCode::OK, set)?;
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL_VALUE));
    Ok(response)
}
