//! What the integration and end-to-end tests share: where the local stack is, and small
//! assertions about what every response must carry.
//!
//! `make test` (infra/test.sh) starts moto, `cargo lambda watch` and the local gateway on
//! free ports and passes them here. A test run without them fails with a clear message;
//! it never skips.

use std::path::PathBuf;

use ballot_local::template::Template;
use reqwest::header::HeaderMap;

/// A variable the harness must set.
pub fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run these tests with `make test`, which starts the local stack"))
}

/// Base URL of the local API gateway.
pub fn api() -> String {
    required_env("BALLOT_API_URL")
}

/// Base URL of `cargo lambda watch`'s Invoke API.
pub fn invoke_api() -> String {
    required_env("BALLOT_INVOKE_URL")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_owned()
}

pub fn template() -> Template {
    Template::load(&repo_root().join("template.yaml")).expect("template.yaml parses")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A client whose connections come from `address` (in 127.0.0.0/8), so per-address rate
/// limits of one test do not touch the others.
pub fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(address.parse::<std::net::IpAddr>().expect("an IP address"))
        .build()
        .expect("client")
}

/// A fresh, unique email for one test.
pub fn unique_email(label: &str) -> String {
    let email = format!("{label}.{}@example.com", shared::ids::random_id().replace(['-', '_'], "x"));
    email.to_lowercase()
}

/// POSTs JSON to `path` of the API.
pub async fn post_json(client: &reqwest::Client, path: &str, body: &serde_json::Value) -> reqwest::Response {
    client.post(format!("{}{path}", api())).json(body).send().await.expect("request")
}

/// The headers every response of a function carries (see `shared::http`).
pub fn assert_security_headers(headers: &HeaderMap) {
    for (name, value) in shared::http::SECURITY_HEADERS {
        assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    assert!(headers.contains_key("cache-control"), "cache-control");
}

/// Reads a problem+json response and checks what every problem must have.
pub async fn assert_problem(response: reqwest::Response, status: u16, slug: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let text = response.text().await.expect("body");
    for leak in ["panicked", "stack backtrace", "aws-sdk", "DispatchFailure", "ballot-Table", "Exception", "src/"] {
        assert!(!text.contains(leak), "a problem leaks {leak:?}: {text}");
    }
    let problem: serde_json::Value = serde_json::from_str(&text).expect("problem is JSON");
    assert_eq!(problem["type"], format!("urn:ballot:problem:{slug}"), "{problem}");
    assert_eq!(problem["status"], status, "{problem}");
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
    assert!(problem["request_id"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
    problem
}

/// A concrete path for a route template (`/v1/polls/{id}` → `/v1/polls/test-id`).
pub fn concrete_path(template_path: &str) -> String {
    template_path
        .split('/')
        .map(|segment| if segment.starts_with('{') { "test-id" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// The local stack's signing key set, read from its secret (as the functions read it).
pub async fn local_keys() -> shared::auth::keys::KeySet {
    let endpoint = required_env("AWS_ENDPOINT_URL");
    assert!(ballot_local::is_loopback_url(&endpoint), "AWS_ENDPOINT_URL must be the local stack");
    let stack = required_env("BALLOT_STACK");
    let clients = ballot_local::bootstrap::Clients::from_env().await;
    let secret =
        clients.secrets.get_secret_value().secret_id(format!("{stack}-SigningKeysSecret")).send().await.unwrap();
    shared::auth::keys::KeySet::parse(secret.secret_string().unwrap()).unwrap()
}

/// The token settings the local functions use (template parameter defaults).
pub fn token_settings() -> shared::auth::token::TokenSettings {
    shared::auth::token::TokenSettings { issuer: "ballot".into(), audience: "ballot-api".into() }
}

/// A valid access token for `roles`, signed with the local key. For account roles an
/// account with those roles is created first (the authorizer checks it exists).
pub async fn token_for(roles: &[shared::auth::Role]) -> String {
    token_for_account(roles).await.0
}

/// Like [`token_for`], also returning the subject (the account id, or the guest id).
pub async fn token_for_account(roles: &[shared::auth::Role]) -> (String, String) {
    use shared::auth::{Role, token::TokenKind};
    let id = shared::ids::random_id();
    let kind = if roles == [Role::Guest] { TokenKind::Guest } else { TokenKind::Access };
    if kind == TokenKind::Access {
        let user = shared::store::users::User {
            id: id.clone(),
            email: unique_email("role"),
            display_name: "Test".into(),
            roles: roles.to_vec(),
            created_at: shared::clock::rfc3339_now(),
            disabled: false,
        };
        local_store().await.create_user(&user, "not-a-hash".into()).await.unwrap();
    }
    let keys = local_keys().await;
    let token =
        shared::auth::token::issue(&keys, &token_settings(), &id, roles, kind, shared::ids::random_id()).unwrap();
    (token.0, id)
}

/// The local stack's table, as the functions see it.
pub async fn local_store() -> shared::store::Store {
    let clients = ballot_local::bootstrap::Clients::from_env().await;
    shared::store::Store::new(clients.dynamodb, format!("{}-Table", required_env("BALLOT_STACK")))
}

/// An ID token minted by the local OIDC issuer that `make test` runs (`query`: `sub`,
/// `aud`, optional `email`, `expires_in`).
pub async fn id_token(query: &str) -> String {
    let issuer = required_env("BALLOT_OIDC_ISSUER");
    let body: serde_json::Value =
        client().get(format!("{issuer}/token?{query}")).send().await.unwrap().json().await.unwrap();
    body["id_token"].as_str().expect("the issuer minted a token").to_owned()
}

/// `GET /v1/me` with `token`.
pub async fn get_me(token: &str) -> reqwest::Response {
    client().get(format!("{}/v1/me", api())).bearer_auth(token).send().await.unwrap()
}

/// A fresh subject at the local issuer.
pub fn new_subject() -> String {
    format!("user-{}", shared::ids::random_id())
}

/// Guest tokens for `n` distinct anonymous voters (no account needed), signed with the
/// local key read once.
pub async fn guest_tokens(n: usize) -> Vec<String> {
    use shared::auth::{Role, token::TokenKind};
    let keys = local_keys().await;
    (0..n)
        .map(|_| {
            let id = shared::ids::random_id();
            shared::auth::token::issue(&keys, &token_settings(), &id, &[Role::Guest], TokenKind::Guest, id.clone())
                .unwrap()
                .0
        })
        .collect()
}

/// `infra/openapi.yaml`, parsed once.
pub fn openapi() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let text = std::fs::read_to_string(repo_root().join("infra/openapi.yaml")).expect("infra/openapi.yaml");
        serde_norway::from_str(&text).expect("infra/openapi.yaml parses")
    })
}

/// Asserts that `body` is what the OpenAPI document says `method path` (a template
/// path such as `/v1/polls/{id}`) answers with `status`: the response is documented,
/// and the body validates against its schema (JSON Schema 2020-12).
pub fn assert_conforms(method: &str, path: &str, status: u16, body: &serde_json::Value) {
    let document = openapi();
    let operation = &document["paths"][path][method.to_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not in infra/openapi.yaml");
    let mut response = &operation["responses"][status.to_string()];
    if let Some(reference) = response["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        response = document.pointer(pointer).unwrap_or_else(|| panic!("{reference} is not in the document"));
    }
    assert!(response.is_object(), "{method} {path} does not document status {status}");
    let content = &response["content"];
    let media = ["application/json", "application/problem+json"]
        .into_iter()
        .find(|m| content[*m].is_object())
        .unwrap_or_else(|| panic!("{method} {path} {status} documents no JSON body"));
    let mut schema = content[media]["schema"].clone();
    schema["components"] = document["components"].clone();
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: the schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status} does not match infra/openapi.yaml: {errors:?}\n{body}");
}
