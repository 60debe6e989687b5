//! The CAPTCHA check of guest and register, through the local gateway with the local
//! Turnstile-compatible verifier that `make test` runs (`ballot-local captcha-verifier`,
//! `CaptchaVerifyUrl` pointing at it): no token, an unknown one or a spent one is a 403
//! `captcha-failed` that leaves no account, sends no mail and takes no limit slot, and so
//! is a token solved on another site under the same site key; a failing verifier is a
//! 503, never a pass; a browser may send the header.

use ballot_tests::{
    api, assert_problem, captcha_token, captcha_token_solved_on, client, client_from, fresh_address, mail_to,
    post_json, unique_email,
};
use serde_json::{Value, json};
use shared::captcha::HEADER;

const PASSWORD: &str = "a perfectly long passphrase";

/// POSTs `body` to `path` from a fresh address, with `token` (if any) as the CAPTCHA token.
async fn send(path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut request = client_from(&fresh_address()).post(format!("{}{path}", api())).json(body);
    if let Some(token) = token {
        request = request.header(HEADER, token);
    }
    request.send().await.unwrap()
}

async fn login_status(email: &str) -> u16 {
    let login = json!({"email": email, "password": PASSWORD});
    post_json(&client_from(&fresh_address()), "/v1/auth/login", &login).await.status().as_u16()
}

#[tokio::test]
async fn given_registrations_without_a_good_token_then_403_and_no_account_no_mail() {
    let email = unique_email("captcha");
    let body = json!({"email": email, "password": PASSWORD, "display_name": "Bot"});
    let spent = captcha_token().await;
    assert_eq!(send("/v1/auth/register", &body, Some(&spent)).await.status(), 202, "a solved CAPTCHA");
    let other = json!({"email": unique_email("captcha-other"), "password": PASSWORD, "display_name": "Bot"});
    for token in [None, Some(""), Some("not-a-token-the-verifier-gave"), Some(spent.as_str())] {
        let refused = assert_problem(send("/v1/auth/register", &other, token).await, 403, "captcha-failed").await;
        assert!(refused["detail"].as_str().unwrap().contains("Captcha-Token"), "{refused}");
    }
    assert_eq!(login_status(other["email"].as_str().unwrap()).await, 401, "no account was made");
    assert!(mail_to(other["email"].as_str().unwrap()).await.is_empty(), "no mail was sent");
    // A body is read before the verifier is asked: a bad one is a 400 even without a token.
    let bad = send("/v1/auth/register", &json!({"email": "x"}), None).await;
    assert_problem(bad, 400, "validation-failed").await;
}

#[tokio::test]
async fn given_guest_tokens_then_each_captcha_token_works_once() {
    assert_problem(send("/v1/auth/guest", &json!({}), None).await, 403, "captcha-failed").await;
    let token = captcha_token().await;
    let issued = send("/v1/auth/guest", &json!({}), Some(&token)).await;
    assert_eq!(issued.status(), 200);
    let issued: Value = issued.json().await.unwrap();
    assert!(issued["access_token"].is_string());
    assert_problem(send("/v1/auth/guest", &json!({}), Some(&token)).await, 403, "captcha-failed").await;
}

#[tokio::test]
async fn given_a_token_solved_on_another_site_then_403_and_no_account() {
    let email = unique_email("captcha-elsewhere");
    let body = json!({"email": email, "password": PASSWORD, "display_name": "Bot"});
    for site in ["evil.example", "127.0.0.1.evil.example"] {
        let token = captcha_token_solved_on(Some(site)).await;
        assert_problem(send("/v1/auth/register", &body, Some(&token)).await, 403, "captcha-failed").await;
        let token = captcha_token_solved_on(Some(site)).await;
        assert_problem(send("/v1/auth/guest", &json!({}), Some(&token)).await, 403, "captcha-failed").await;
    }
    assert_eq!(login_status(&email).await, 401, "no account was made");
    assert!(mail_to(&email).await.is_empty(), "no mail was sent");
    // The stack's front end is the host of its AppUrl (the template's default locally).
    let token = captcha_token_solved_on(Some("127.0.0.1")).await;
    assert_eq!(send("/v1/auth/register", &body, Some(&token)).await.status(), 202);
}

#[tokio::test]
async fn given_a_failing_verifier_then_503_never_a_pass() {
    let email = unique_email("captcha-outage");
    let body = json!({"email": email, "password": PASSWORD, "display_name": "Ann"});
    // The local verifier answers 500 to this token.
    assert_problem(send("/v1/auth/register", &body, Some("outage")).await, 503, "unavailable").await;
    assert_problem(send("/v1/auth/guest", &json!({}), Some("outage")).await, 503, "unavailable").await;
    assert_eq!(login_status(&email).await, 401, "no account was made");
}

#[tokio::test]
async fn given_a_browser_then_the_preflight_allows_the_captcha_header() {
    let origin = std::env::var("BALLOT_ALLOWED_ORIGIN").unwrap_or_else(|_| "http://localhost:5173".into());
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/auth/register", api()))
        .header("origin", &origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,captcha-token")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.split(',').any(|h| h.trim() == HEADER), "{allowed}");
}
