//! `GET /v1/health`: wires config and clients once per cold start, then serves.

use std::sync::Arc;

use shared::{aws::AwsClients, config::Config, http};

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = AwsClients::from_env().await;
    let probes = Arc::new(handler::Probes::new(&aws, &config));
    http::serve(http::Cors::new(config.cors_allowed_origins), move |req| {
        let probes = Arc::clone(&probes);
        async move { handler::health(&*probes, &req).await }
    })
    .await
}
