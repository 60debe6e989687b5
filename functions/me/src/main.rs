//! `GET /v1/me`: who the caller is, as the authorizer established it.

use lambda_http::http::StatusCode;
use shared::{ApiError, config::Config, http, identity::Caller};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    http::serve(http::Cors::new(config.cors_allowed_origins), |req| async move {
        let caller = Caller::of(&req)?;
        me(&caller)
    })
    .await
}

/// Guests are `{"id","roles":["guest"]}`; accounts add their profile once the account
/// store exists (identity issue, registration).
fn me(caller: &Caller) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    http::json(StatusCode::OK, &serde_json::json!({"id": caller.sub, "roles": caller.roles}))
}
