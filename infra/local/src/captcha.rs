//! A local CAPTCHA verifier for tests and development, speaking Turnstile's `siteverify`:
//! it hands out tokens as a solved widget would, and judges them as Cloudflare does.
//! Loopback only; it exists so the CAPTCHA check of guest and register is tested end to
//! end without the internet, like the local OIDC issuer.
//!
//! - `POST /token[?hostname=H]` — a fresh token (what a widget solved on the site `H` gives
//!   the page; by default `127.0.0.1`, the host of the template's default `AppUrl`);
//! - `POST /siteverify` — a form of `secret`, `response`, `remoteip`: `{"success": true,
//!   "hostname": H}` for a token it handed out and nobody spent yet, when `secret` is the
//!   one in the stack's `CaptchaSecret`; else `{"success": false, "error-codes": [...]}` with
//!   Turnstile's codes (`missing-input-secret`, `invalid-input-secret`,
//!   `missing-input-response`, `invalid-input-response`, `timeout-or-duplicate`). The
//!   token `outage` makes it answer 500, so a test can see a verifier failing.

use std::{collections::HashMap, convert::Infallible, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::{net::TcpListener, sync::Mutex};

/// Where the verifier learns the site's secret: the secret ballot's functions read.
pub struct SiteSecret {
    pub client: aws_sdk_secretsmanager::Client,
    pub secret_id: String,
}

impl SiteSecret {
    async fn value(&self) -> Option<String> {
        let out = self.client.get_secret_value().secret_id(&self.secret_id).send().await.ok()?;
        out.secret_string().map(str::to_owned)
    }
}

/// The site a local token is solved on unless the request for it names another.
const DEFAULT_HOSTNAME: &str = "127.0.0.1";

/// A token handed out: the site it was solved on, and whether it is spent.
struct Solved {
    hostname: String,
    spent: bool,
}

type Tokens = Mutex<HashMap<String, Solved>>;

/// Serves the verifier on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, secret: SiteSecret) {
    let state = Arc::new((Tokens::default(), secret));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(answer(req, &state.0, &state.1).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(req: Request<hyper::body::Incoming>, tokens: &Tokens, secret: &SiteSecret) -> Response<Full<Bytes>> {
    let route = (req.method().as_str().to_owned(), req.uri().path().to_owned());
    let (status, body) = match (route.0.as_str(), route.1.as_str()) {
        ("POST", "/token") => {
            let query = url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes());
            let hostname = query.into_owned().find(|(k, _)| k == "hostname").map(|(_, v)| v);
            let hostname = hostname.unwrap_or_else(|| DEFAULT_HOSTNAME.to_owned());
            let token = format!("local.{}", crate::keys::random_token(24));
            tokens.lock().await.insert(token.clone(), Solved { hostname, spent: false });
            (200, json!({"token": token}))
        }
        ("POST", "/siteverify") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
            if form.get("response").map(String::as_str) == Some("outage") {
                (500, json!({"error": "the local verifier is failing, as asked"}))
            } else {
                let verdict = judge(&form, tokens, secret).await;
                (200, verdict.map_or_else(|code| json!({"success": false, "error-codes": [code]}), |hostname| {
                    json!({"success": true, "challenge_ts": ballot_core::clock::rfc3339_now(), "hostname": hostname,
                        "error-codes": []})
                }))
            }
        }
        _ => (404, json!({"error": "not found"})),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

/// Turnstile's judgement of one form: the secret first, then the token (spent by a pass,
/// which names the site it was solved on).
async fn judge(form: &HashMap<String, String>, tokens: &Tokens, secret: &SiteSecret) -> Result<String, &'static str> {
    let presented = form.get("secret").filter(|s| !s.is_empty()).ok_or("missing-input-secret")?;
    let expected = secret.value().await.ok_or("internal-error")?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), expected.as_bytes()).is_err() {
        return Err("invalid-input-secret");
    }
    let token = form.get("response").filter(|t| !t.is_empty()).ok_or("missing-input-response")?;
    match tokens.lock().await.get_mut(token) {
        None => Err("invalid-input-response"),
        Some(Solved { spent: true, .. }) => Err("timeout-or-duplicate"),
        Some(solved) => {
            solved.spent = true;
            Ok(solved.hostname.clone())
        }
    }
}
