//! `GET /v1/polls/{id}/live` (anonymous) → a page that shows the poll's results live: the
//! question, a bar per option with its votes and percentage, the ballot count, and what
//! became of the poll (closed, deleted, results hidden), reconnecting with backoff. The
//! page carries no poll data: its script reads the poll id from the address, subscribes
//! over the WebSocket API (`{"action": "subscribe"}`), and renders each `results` frame
//! (a token for polls whose results are not public comes from the address's fragment,
//! `#token=…`, and goes as a subprotocol). So it is the same for every poll, cached, and
//! tells nothing about a poll that exists or not.
//!
//! Its CSP allows exactly the page's own inline style and script (by their SHA-256,
//! computed once per cold start) and `connect-src` the WebSocket API's origin; nothing
//! else loads, no third-party origin. Every text a frame brings is set as `textContent`.

use lambda_http::http::HeaderValue;
use shared::{ApiError, app::App, http, page};

const HTML: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The page and its headers, the same for every poll.
struct Page {
    html: String,
    csp: HeaderValue,
}

impl Page {
    /// The page for the WebSocket API at `socket_url` (`wss://host/stage`).
    fn new(socket_url: &str) -> Result<Self, ApiError> {
        let page::InlinePage { html, style_src: style, script_src: script } = page::with_inline(HTML, STYLE, SCRIPT);
        let html = html.replace("{socket_url}", &attribute(socket_url));
        let csp = format!(
            "default-src 'none'; style-src {style}; script-src {script}; connect-src {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            origin(socket_url),
        );
        Ok(Self { html, csp: HeaderValue::from_str(&csp).map_err(ApiError::internal)? })
    }
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |end| &url[..after_scheme + end])
}

/// `text` safe inside a double-quoted attribute.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let page = Page::new(&app.config.live.socket_url)?;
    http::serve_with(app.edge(), page, |page, req| async move {
        http::path_id(&req, "id")?;
        page::response(&page.html, "text/html; charset=utf-8", 300, Some(&page.csp))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_page_then_its_csp_allows_exactly_its_own_style_and_script_and_the_socket() {
        let page = Page::new("wss://abc.execute-api.eu-west-1.amazonaws.com/v1").unwrap();
        let csp = page.csp.to_str().unwrap();
        assert!(csp.contains("connect-src wss://abc.execute-api.eu-west-1.amazonaws.com;"), "{csp}");
        assert!(csp.starts_with("default-src 'none';") && !csp.contains("unsafe") && !csp.contains('*'), "{csp}");
        let inline = |open: &str, close: &str| {
            let start = page.html.find(open).unwrap() + open.len();
            page.html[start..start + page.html[start..].find(close).unwrap()].to_owned()
        };
        assert!(csp.contains(&page::inline_source(&inline("<style>", "</style>"))), "the style's hash");
        assert!(csp.contains(&page::inline_source(&inline("<script>", "</script>"))), "the script's hash");
        assert!(
            page.html
                .contains(r#"<meta name="ballot-live" content="wss://abc.execute-api.eu-west-1.amazonaws.com/v1">"#)
        );
    }

    #[test]
    fn given_urls_then_their_origins() {
        assert_eq!(origin("ws://127.0.0.1:3001/prod"), "ws://127.0.0.1:3001");
        assert_eq!(origin("wss://h.example"), "wss://h.example");
        assert_eq!(attribute(r#"a"<b>&"#), "a&quot;&lt;b&gt;&amp;");
    }
}
