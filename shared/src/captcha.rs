//! The optional CAPTCHA check of `POST /v1/auth/guest` and `POST /v1/auth/register`, on
//! when `CAPTCHA_VERIFY_URL` is set. The client sends the token its CAPTCHA widget gave in
//! the `Captcha-Token` header; the function asks a Turnstile-compatible `siteverify`
//! endpoint (a form of `secret`, `response` and `remoteip`; the answer
//! `{"success": bool, "hostname": ..., "error-codes": [...]}`) whether the token is good,
//! after the body is read and before any other work.
//!
//! Invariants:
//! - with the check on, a request goes further only with a token the verifier accepted as
//!   solved on one of the front end's hostnames (else 403 `captcha-failed`: a site key may
//!   serve other sites, whose solved tokens must not pass);
//! - a verifier that can't be reached, fails or blames ballot's secret or request is a 503
//!   (a secret that can't be read, a 500), never a pass;
//! - the secret (Secrets Manager, `CAPTCHA_SECRET_ID`) and the token reach no log line.
//!
//! Written with the HTTP client the functions have (reqwest) and `url`'s form encoder:
//! there is no Rust Turnstile client worth a dependency.

use std::time::Duration;

use lambda_http::Request;
use serde::Deserialize;

use crate::{
    ApiError, config,
    http::source_ip,
    secrets::{SecretCache, SecretSource},
};

/// The request header that carries the CAPTCHA token.
pub const HEADER: &str = "captcha-token";

/// Turnstile's tokens are at most 2,048 characters; anything longer is refused unasked.
const MAX_TOKEN_BYTES: usize = 2048;

/// The verifier's answer (Turnstile's `siteverify` shape; other fields are ignored).
#[derive(Debug, Deserialize)]
struct Verdict {
    success: bool,
    /// The site the widget was solved on (Turnstile sends it with a success).
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

/// A configured CAPTCHA verifier, built once per cold start.
pub struct Captcha<S> {
    verify_url: String,
    secret_id: String,
    hostnames: Vec<String>,
    secrets: SecretCache<S>,
    http: reqwest::Client,
}

impl<S: SecretSource> Captcha<S> {
    pub fn new(settings: &config::Captcha, secrets: SecretCache<S>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Self {
            verify_url: settings.verify_url.clone(),
            secret_id: settings.secret_id.clone(),
            hostnames: settings.hostnames.clone(),
            secrets,
            http,
        }
    }

    /// Passes `req` when the verifier accepts its `Captcha-Token`.
    pub async fn check(&self, req: &Request) -> Result<(), ApiError> {
        let token = req.headers().get(HEADER).and_then(|value| value.to_str().ok()).map(str::trim);
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES) else {
            tracing::info!("captcha token missing or oversized");
            return Err(ApiError::CaptchaFailed);
        };
        let secret = self.secrets.get(&self.secret_id).await?;
        let form = form(secret.expose(), token, &source_ip(req));
        let answer = self
            .http
            .post(&self.verify_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|err| unavailable(err.without_url()))?;
        if !answer.status().is_success() {
            return Err(unavailable(format!("siteverify answered {}", answer.status())));
        }
        let verdict: Verdict = answer.json().await.map_err(|err| unavailable(err.without_url()))?;
        judge(&verdict, &self.hostnames)
    }
}

/// The `siteverify` form: `remoteip` only when the client's address is known.
fn form(secret: &str, token: &str, address: &str) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("secret", secret).append_pair("response", token);
    if !address.is_empty() {
        form.append_pair("remoteip", address);
    }
    form.finish()
}

/// Turnstile's error codes that blame ballot's request or the verifier, not the token.
const OUR_FAULTS: [&str; 4] = ["missing-input-secret", "invalid-input-secret", "bad-request", "internal-error"];

/// What a verdict means for the request: a pass only for a token solved on one of
/// `hostnames`; else the client's token failed (403), or ballot's side did (its secret or
/// request, the verifier itself).
fn judge(verdict: &Verdict, hostnames: &[String]) -> Result<(), ApiError> {
    if verdict.success {
        let solved_on = verdict.hostname.as_deref().map(str::to_ascii_lowercase).unwrap_or_default();
        if hostnames.contains(&solved_on) {
            return Ok(());
        }
        tracing::info!(hostname = %solved_on, "captcha solved on another site");
        return Err(ApiError::CaptchaFailed);
    }
    if verdict.error_codes.iter().any(|code| OUR_FAULTS.contains(&code.as_str())) {
        return Err(unavailable(format!("siteverify refused ballot's request: {:?}", verdict.error_codes)));
    }
    tracing::info!(codes = ?verdict.error_codes, "captcha refused");
    Err(ApiError::CaptchaFailed)
}

fn unavailable(cause: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %cause, "captcha verifier unavailable");
    ApiError::Domain(ballot_core::Error::Unavailable("The CAPTCHA check is unavailable; retry.".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(success: bool, codes: &[&str]) -> Verdict {
        let hostname = success.then(|| "polls.example".to_owned());
        Verdict { success, hostname, error_codes: codes.iter().map(|c| (*c).to_owned()).collect() }
    }

    fn ours() -> Vec<String> {
        vec!["polls.example".to_owned()]
    }

    #[test]
    fn given_verdicts_then_the_client_fails_only_for_its_own_token() {
        assert!(judge(&verdict(true, &[]), &ours()).is_ok());
        for client in [&["invalid-input-response"][..], &["timeout-or-duplicate"], &["missing-input-response"], &[]] {
            assert!(matches!(judge(&verdict(false, client), &ours()), Err(ApiError::CaptchaFailed)), "{client:?}");
        }
        for faults in [&["invalid-input-secret"][..], &["missing-input-secret"], &["internal-error"], &["bad-request"]]
        {
            let err = judge(&verdict(false, faults), &ours()).unwrap_err();
            assert_eq!(err.status(), 503, "{faults:?}: never the client's fault, never a pass");
        }
    }

    #[test]
    fn given_a_token_solved_on_another_site_or_on_none_then_refused() {
        let on = |hostname: Option<&str>| Verdict {
            success: true,
            hostname: hostname.map(str::to_owned),
            error_codes: Vec::new(),
        };
        assert!(judge(&on(Some("Polls.Example")), &ours()).is_ok(), "hostnames are case-insensitive");
        for other in [Some("evil.example"), Some("polls.example.evil.example"), Some(""), None] {
            assert!(matches!(judge(&on(other), &ours()), Err(ApiError::CaptchaFailed)), "{other:?}");
        }
    }

    #[test]
    fn given_a_token_then_the_form_escapes_it_and_names_the_address_only_when_known() {
        assert_eq!(form("s&=", "t ok", "203.0.113.7"), "secret=s%26%3D&response=t+ok&remoteip=203.0.113.7");
        assert_eq!(form("s", "t", ""), "secret=s&response=t");
    }

    #[test]
    fn given_turnstile_answers_then_they_parse() {
        let pass: Verdict = serde_json::from_str(
            r#"{"success":true,"challenge_ts":"2026-12-07T10:00:00Z","hostname":"polls.example","error-codes":[],"action":"register","cdata":""}"#,
        )
        .unwrap();
        assert!(pass.success);
        assert_eq!(pass.hostname.as_deref(), Some("polls.example"));
        let fail: Verdict =
            serde_json::from_str(r#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#).unwrap();
        assert_eq!(fail.error_codes, ["timeout-or-duplicate"]);
    }
}
