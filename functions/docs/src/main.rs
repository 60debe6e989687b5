//! `GET /v1/docs` (public): the interactive API reference, Swagger UI rendering this
//! deployment's `GET /v1/openapi.json`, with "Try it out" against the same origin; and
//! `GET /v1/docs/{file}`, the two files the page loads (Swagger UI's bundle and style,
//! vendored in `vendor/swagger-ui` at the version `infra/node/package.json` pins, with
//! their license). Nothing else is served: any other file is 404.
//!
//! The page's CSP allows exactly what it needs: scripts and styles from the page's own
//! origin plus its inline style and script (by hash), images from itself and `data:`
//! (the style's icons), requests to its own origin (the document and "Try it out"), and
//! nothing from anywhere else. Swagger UI's outside calls are off (no validator badge, no
//! configuration read from the address).

use lambda_http::{Request, RequestExt, http::HeaderValue};
use shared::{ApiError, app::App, http, page};

const HTML: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");
const BUNDLE: &str = include_str!("../vendor/swagger-ui/swagger-ui-bundle.js");
const BUNDLE_STYLE: &str = include_str!("../vendor/swagger-ui/swagger-ui.css");

/// Seconds a browser may keep the page (it changes with a deploy) and its files.
const PAGE_MAX_AGE: u32 = 300;
const FILE_MAX_AGE: u32 = 86_400;

/// The page and its CSP, built once per cold start.
struct Reference {
    html: String,
    csp: HeaderValue,
}

impl Reference {
    fn new() -> Result<Self, ApiError> {
        let page::InlinePage { html, style_src: style, script_src: script } = page::with_inline(HTML, STYLE, SCRIPT);
        let csp = format!(
            "default-src 'none'; script-src 'self' {script}; style-src 'self' {style}; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        Ok(Self { html, csp: HeaderValue::from_str(&csp).map_err(ApiError::internal)? })
    }

    /// The answer to `req`: the page, one of its files, or 404.
    fn serve(&self, req: &Request) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
        match req.path_parameters_ref().and_then(|p| p.first("file")) {
            None => page::response(&self.html, "text/html; charset=utf-8", PAGE_MAX_AGE, Some(&self.csp)),
            Some("swagger-ui-bundle.js") => {
                page::response(BUNDLE, "text/javascript; charset=utf-8", FILE_MAX_AGE, None)
            }
            Some("swagger-ui.css") => page::response(BUNDLE_STYLE, "text/css; charset=utf-8", FILE_MAX_AGE, None),
            Some(_) => Err(ApiError::Domain(ballot_core::Error::NotFound)),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), Reference::new()?, |reference, req| async move { reference.serve(&req) }).await
}
