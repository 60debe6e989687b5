//! The Lambda `REQUEST` authorizer of every route that needs a token. The decision is
//! `shared::auth::authorizer::decide`; this binary only wires the key set and the runtime.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{
    auth::{authorizer, keys::SigningKeys},
    aws::AwsClients,
    config::Config,
    telemetry,
};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let keys = Arc::new(SigningKeys::from_config(&aws, &config));
    let settings = Arc::new(config.tokens);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (keys, settings) = (Arc::clone(&keys), Arc::clone(&settings));
        let request_id = event.payload["requestContext"]["requestId"].as_str().unwrap_or_default().to_owned();
        let span = telemetry::request_span(&request_id, &event.context.request_id);
        async move {
            // A key set that cannot be read is a 500 (AUTHORIZER_FAILURE), never a 401.
            let keys = keys.get().await.map_err(|e| {
                tracing::error!(error = %e, "signing keys unavailable");
                failure("AuthorizerUnavailable", "authorizer unavailable")
            })?;
            // API Gateway answers 401 for exactly the message `Unauthorized`.
            authorizer::decide(&keys, &settings, &event.payload)
                .map_err(|unauthorized| failure("Unauthorized", &unauthorized.to_string()))
        }
        .instrument(span)
    }))
    .await
}

fn failure(error_type: &str, message: &str) -> Diagnostic {
    Diagnostic { error_type: error_type.to_owned(), error_message: message.to_owned() }
}
