//! `GET /v1/health`: wires config and clients once per cold start, then serves.

use shared::{app::App, http};

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let probes = handler::Probes::new(&app.aws, &app.config);
    http::serve_with(app.edge(), probes, |probes, req| async move { handler::health(&*probes, &req).await }).await
}
