//! `GET /v1/openapi.json` (public): the OpenAPI 3.1 description of the API
//! (`infra/openapi.yaml`, converted to JSON at build time), cacheable for an hour.

use lambda_http::http::{StatusCode, header};
use shared::{app::App, http};

const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve(app.edge(), |_req| async move {
        let response = lambda_http::Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .body(lambda_http::Body::Text(DOCUMENT.to_owned()))
            .map_err(shared::ApiError::internal)?;
        Ok(response)
    })
    .await
}
