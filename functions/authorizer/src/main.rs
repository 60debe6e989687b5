//! The Lambda `REQUEST` authorizer of every route that needs a token: the token is
//! verified by `shared::auth::authorizer`; an account's token is also checked against the
//! account, so a disabled account is refused and role changes apply, within the
//! authorizer's cache TTL. Guests have no account.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{
    auth::{authorizer, keys::SigningKeys, token::TokenKind},
    aws::AwsClients,
    config::Config,
    store::Store,
    telemetry,
};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let keys = Arc::new(SigningKeys::from_config(&aws, &config));
    let store = Arc::new(Store::new(aws.dynamodb.clone(), config.table_name.clone()));
    let settings = Arc::new(config.tokens);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (keys, settings, store) = (Arc::clone(&keys), Arc::clone(&settings), Arc::clone(&store));
        let request_id = event.payload["requestContext"]["requestId"].as_str().unwrap_or_default().to_owned();
        let span = telemetry::request_span(&request_id, &event.context.request_id);
        async move {
            // A key set that cannot be read is a 500 (AUTHORIZER_FAILURE), never a 401.
            let keys = keys.get().await.map_err(|e| {
                tracing::error!(error = %e, "signing keys unavailable");
                failure("AuthorizerUnavailable", "authorizer unavailable")
            })?;
            // API Gateway answers 401 for exactly the message `Unauthorized`.
            let unauthorized = |u: authorizer::Unauthorized| failure("Unauthorized", &u.to_string());
            let claims = authorizer::verify_request(&keys, &settings, &event.payload).map_err(unauthorized)?;
            let roles = match claims.kind {
                TokenKind::Guest => claims.roles,
                TokenKind::Access => {
                    let user = store.user(&claims.sub).await.map_err(|e| {
                        tracing::error!(error = %e, "account store unavailable");
                        failure("AuthorizerUnavailable", "authorizer unavailable")
                    })?;
                    match user {
                        Some(user) if !user.disabled => user.roles,
                        _ => {
                            tracing::info!(sub = %claims.sub, "token of a disabled or unknown account");
                            return Err(unauthorized(authorizer::Unauthorized));
                        }
                    }
                }
            };
            authorizer::answer(&event.payload, &claims.sub, &roles, claims.kind).map_err(unauthorized)
        }
        .instrument(span)
    }))
    .await
}

fn failure(error_type: &str, message: &str) -> Diagnostic {
    Diagnostic { error_type: error_type.to_owned(), error_message: message.to_owned() }
}
