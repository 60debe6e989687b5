//! HTML pages and the files they load, served by a function (the live page, the API
//! reference). A page's inline style and script are allowed by their SHA-256 in its
//! Content-Security-Policy (computed once per cold start), so no `unsafe-inline`; a
//! handler's CSP is kept by [`crate::http::finish`], which adds the strict one only where
//! a response has none.

use aws_lc_rs::digest::{SHA256, digest};
use base64::{Engine, engine::general_purpose::STANDARD};
use lambda_http::{
    Body, Response,
    http::{HeaderValue, header},
};

use crate::ApiError;

/// The CSP source (`'sha256-…'`) that allows an inline element whose content is `text`.
pub fn inline_source(text: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(digest(&SHA256, text.as_bytes())))
}

/// A page with its inline style and script, and the CSP sources that allow exactly them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinePage {
    pub html: String,
    /// For `style-src`.
    pub style_src: String,
    /// For `script-src`.
    pub script_src: String,
}

/// `html` with its `{style}` and `{script}` filled in.
pub fn with_inline(html: &str, style: &str, script: &str) -> InlinePage {
    InlinePage {
        html: html.replace("{style}", style).replace("{script}", script),
        style_src: inline_source(style),
        script_src: inline_source(script),
    }
}

/// A `200` of `body` as `content_type`, cacheable for `max_age` seconds, with `csp` if
/// given (a page's own; a file a page loads needs none).
pub fn response(
    body: &str,
    content_type: &'static str,
    max_age: u32,
    csp: Option<&HeaderValue>,
) -> Result<Response<Body>, ApiError> {
    let mut response = Response::new(Body::Text(body.to_owned()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let cache = HeaderValue::from_str(&format!("public, max-age={max_age}")).map_err(ApiError::internal)?;
    headers.insert(header::CACHE_CONTROL, cache);
    if let Some(csp) = csp {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_inline_text_then_its_csp_source_is_its_sha256() {
        // printf 'a' | openssl dgst -sha256 -binary | base64
        assert_eq!(inline_source("a"), "'sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs='");
        let page = with_inline("<style>{style}</style><script>{script}</script>", "s", "j");
        assert_eq!(page.html, "<style>s</style><script>j</script>");
        assert_eq!((page.style_src, page.script_src), (inline_source("s"), inline_source("j")));
    }
}
