//! What the integration and end-to-end tests share: where the local stack is, and small
//! assertions about what every response must carry.
//!
//! `make test` (infra/test.sh) starts moto, `cargo lambda watch` and the local gateway on
//! free ports and passes them here. A test run without them fails with a clear message;
//! it never skips.

pub mod browser;
pub mod mail;
pub mod modules;
pub mod proxy;

pub use mail::{Mail, all_mail, mail_to, next_mail, token_in};

use std::path::PathBuf;

use ballot_local::template::Template;
use reqwest::header::HeaderMap;

/// A variable the harness must set.
pub fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run these tests with `make test`, which starts the local stack"))
}

/// A number the harness must set.
pub fn env_number(name: &str) -> u64 {
    let value = std::env::var(name).unwrap_or_else(|_| panic!("make test sets {name}"));
    value.parse().unwrap_or_else(|_| panic!("{name} is a number"))
}

/// Waits until a rate-limit window has just begun, so a burst stays inside one window.
pub async fn window_start(window: u64) {
    while !ballot_core::clock::epoch_secs().is_multiple_of(window) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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

/// A loopback address no other test uses (127.10.0.0 to 127.250.255.255, random), for
/// a client whose per-address limits must start empty.
pub fn fresh_address() -> String {
    let bytes = ballot_core::ids::random_id().into_bytes();
    format!("127.{}.{}.{}", 10 + bytes[0] % 240, bytes[1], bytes[2].max(1))
}

/// A fresh, unique email for one test.
pub fn unique_email(label: &str) -> String {
    let email = format!("{label}.{}@example.com", ballot_core::ids::random_id().replace(['-', '_'], "x"));
    email.to_lowercase()
}

/// POSTs JSON to `path` of the API. Where the stack checks CAPTCHAs (`make test` runs
/// the local verifier at `BALLOT_CAPTCHA_URL`), guest and register also get a fresh token,
/// as a page whose widget was solved sends (tests of the CAPTCHA check itself build their
/// requests with [`client`]).
pub async fn post_json(client: &reqwest::Client, path: &str, body: &serde_json::Value) -> reqwest::Response {
    let mut request = client.post(format!("{}{path}", api())).json(body);
    let checked = std::env::var_os("BALLOT_CAPTCHA_URL").is_some();
    if checked && matches!(path, "/v1/auth/guest" | "/v1/auth/register") {
        request = request.header(shared::captcha::HEADER, captcha_token().await);
    }
    request.send().await.expect("request")
}

/// A token of a CAPTCHA solved on the stack's front end (the host of its `AppUrl`), from
/// the local verifier (`ballot-local captcha-verifier`) at `BALLOT_CAPTCHA_URL`; each
/// works once.
pub async fn captcha_token() -> String {
    captcha_token_solved_on(None).await
}

/// The same, solved on the site `hostname` (`None`: the stack's front end).
pub async fn captcha_token_solved_on(hostname: Option<&str>) -> String {
    let verifier = required_env("BALLOT_CAPTCHA_URL");
    let site = hostname.map(|h| format!("?hostname={h}")).unwrap_or_default();
    let request = client().post(format!("{verifier}/token{site}"));
    let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    answer["token"].as_str().expect("the verifier handed out a token").to_owned()
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
    shared::auth::keys::KeySet::parse(&local_secret("SigningKeysSecret").await).unwrap()
}

/// The value of the local stack's secret `logical_id` (a template id, as `SigningKeysSecret`).
pub async fn local_secret(logical_id: &str) -> String {
    let endpoint = required_env("AWS_ENDPOINT_URL");
    assert!(ballot_local::is_loopback_url(&endpoint), "AWS_ENDPOINT_URL must be the local stack");
    let stack = required_env("BALLOT_STACK");
    let clients = ballot_local::bootstrap::Clients::from_env().await;
    let secret = clients.secrets.get_secret_value().secret_id(format!("{stack}-{logical_id}")).send().await.unwrap();
    secret.secret_string().unwrap().to_owned()
}

/// The token settings the local functions use (template parameter defaults).
pub fn token_settings() -> shared::auth::token::TokenSettings {
    shared::auth::token::TokenSettings { issuer: "ballot".into(), audience: "ballot-api".into() }
}

/// A valid access token for `roles`, signed with the local key. For account roles an
/// account with those roles is created first (the authorizer checks it exists).
pub async fn token_for(roles: &[ballot_core::access::Role]) -> String {
    token_for_account(roles).await.0
}

/// Like [`token_for`], also returning the subject (the account id, or the guest id).
pub async fn token_for_account(roles: &[ballot_core::access::Role]) -> (String, String) {
    use shared::auth::{Role, token::TokenKind};
    let id = ballot_core::ids::random_id();
    let kind = if roles == [Role::Guest] { TokenKind::Guest } else { TokenKind::Access };
    if kind == TokenKind::Access {
        let user = ballot_core::accounts::User {
            id: id.clone(),
            email: unique_email("role"),
            display_name: "Test".into(),
            roles: roles.to_vec(),
            created_at: ballot_core::clock::rfc3339_now(),
            disabled: false,
            email_verified: true,
            epoch: 0,
        };
        // Seeded verified: its verification link is stored spent-by-expiry.
        let link = ballot_core::ports::LinkToken {
            hash: ballot_core::ids::sha256_hex(&ballot_core::ids::random_token(32)),
            purpose: ballot_core::ports::LinkPurpose::VerifyEmail,
            user_id: id.clone(),
            expires_at: 0,
        };
        local_store().await.create_user(&user, "not-a-hash".into(), &link).await.unwrap();
    }
    let keys = local_keys().await;
    let token =
        shared::auth::token::issue(&keys, &token_settings(), &id, roles, kind, ballot_core::ids::random_id()).unwrap();
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

/// `POST /v1/auth/federated` with `id_token`: ballot's tokens for the identity, which
/// links it to an account at first sight.
pub async fn exchange(id_token: &str) -> reqwest::Response {
    post_json(&client(), "/v1/auth/federated", &serde_json::json!({ "id_token": id_token })).await
}

/// `GET /v1/me` with `token`.
pub async fn get_me(token: &str) -> reqwest::Response {
    client().get(format!("{}/v1/me", api())).bearer_auth(token).send().await.unwrap()
}

/// A fresh subject at the local issuer.
pub fn new_subject() -> String {
    format!("user-{}", ballot_core::ids::random_id())
}

/// Guest tokens for `n` distinct anonymous voters (no account needed), signed with the
/// local key read once.
pub async fn guest_tokens(n: usize) -> Vec<String> {
    use shared::auth::{Role, token::TokenKind};
    let keys = local_keys().await;
    (0..n)
        .map(|_| {
            let id = ballot_core::ids::random_id();
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

/// Every operation of the OpenAPI document: (method in lower case, path, operation).
pub fn operations() -> impl Iterator<Item = (&'static str, &'static str, &'static serde_json::Value)> {
    const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
    openapi()["paths"].as_object().expect("paths").iter().flat_map(|(path, item)| {
        let item = item.as_object().expect("a path item");
        item.iter()
            .filter(|(method, _)| METHODS.contains(&method.as_str()))
            .map(move |(m, op)| (m.as_str(), path.as_str(), op))
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
    assert_valid(&schema, body, &format!("{method} {path} {status}"), "infra/openapi.yaml");
}

/// Asserts that `instance` matches the schema at `reference` in `infra/openapi.yaml`
/// (`#/components/schemas/Poll`).
pub fn assert_matches_schema(reference: &str, instance: &serde_json::Value) {
    let schema = serde_json::json!({"$ref": reference, "components": openapi()["components"].clone()});
    assert_valid(&schema, instance, reference, "infra/openapi.yaml");
}

/// Asserts that `instance` validates against `schema` (JSON Schema 2020-12, formats
/// checked); `what` and `document` name them in the failure.
fn assert_valid(schema: &serde_json::Value, instance: &serde_json::Value, what: &str, document: &str) {
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match {document}: {errors:?}\n{instance}");
}

/// The AsyncAPI document of the WebSocket API (`infra/asyncapi.yaml`).
pub fn asyncapi() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let text = std::fs::read_to_string(repo_root().join("infra/asyncapi.yaml")).expect("infra/asyncapi.yaml");
        serde_norway::from_str(&text).expect("infra/asyncapi.yaml parses")
    })
}

/// The schemas a frame's payload may reference: the AsyncAPI document's and the OpenAPI
/// document's (results, problems), with references into `openapi.yaml` made local.
/// Built once.
fn frame_components() -> &'static serde_json::Value {
    static COMPONENTS: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    COMPONENTS.get_or_init(|| {
        let mut schemas = openapi()["components"]["schemas"].as_object().unwrap().clone();
        for (key, schema) in asyncapi()["components"]["schemas"].as_object().unwrap() {
            assert!(schemas.insert(key.clone(), schema.clone()).is_none(), "{key} is in both documents");
        }
        let text = serde_json::json!({"schemas": schemas}).to_string().replace("openapi.yaml#/", "#/");
        serde_json::from_str(&text).expect("still JSON")
    })
}

/// Asserts that `frame` is a message the AsyncAPI document lists (by its `type`, or its
/// `action` for a client's frame) and validates against that message's payload, whose
/// references into `openapi.yaml` (results, problems) resolve in the OpenAPI document.
pub fn assert_frame_conforms(frame: &serde_json::Value) {
    let name =
        frame["type"].as_str().or(frame["action"].as_str()).unwrap_or_else(|| panic!("an untagged frame: {frame}"));
    let message = &asyncapi()["components"]["messages"][name];
    assert!(message.is_object(), "infra/asyncapi.yaml has no message `{name}`: {frame}");
    let schema = serde_json::json!({"$ref": message["payload"]["$ref"], "components": frame_components()});
    assert_valid(&schema, frame, &format!("the `{name}` frame"), "infra/asyncapi.yaml");
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names lowercased.
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A webhook endpoint on 127.0.0.1: answers with the scripted statuses in turn (the last
/// one repeats) and keeps every request it got.
pub struct Receiver {
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(statuses: &[u16]) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (kept, statuses) = (std::sync::Arc::clone(&requests), statuses.to_vec());
        tokio::spawn(async move {
            // Each connection on its own task: a slow client never holds up the next.
            while let Ok((mut socket, _)) = listener.accept().await {
                let (kept, statuses) = (std::sync::Arc::clone(&kept), statuses.clone());
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buffer = [0u8; 8192];
                    let received = loop {
                        let Ok(n) = socket.read(&mut buffer).await else { break None };
                        if n == 0 {
                            break None;
                        }
                        data.extend_from_slice(&buffer[..n]);
                        if let Some(request) = parse_request(&data) {
                            break Some(request);
                        }
                    };
                    let Some(request) = received else { return };
                    let status = {
                        let mut kept = kept.lock().unwrap();
                        kept.push(request);
                        statuses.get(kept.len() - 1).or(statuses.last()).copied().unwrap_or(200)
                    };
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { url, requests }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (up to `timeout`) until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= n || tokio::time::Instant::now() > deadline {
                return requests;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A whole HTTP/1.1 request with a `content-length` body, or `None` while incomplete.
fn parse_request(data: &[u8]) -> Option<Received> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&data[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: std::collections::HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let body = data.get(end + 4..end + 4 + length)?.to_vec();
    Some(Received { path, headers, body })
}

/// The URL of the local stack's events queue, where the functions publish.
pub async fn events_queue_url(sqs: &aws_sdk_sqs::Client) -> String {
    queue_url(sqs, "EventsQueue").await
}

/// The URL of the local stack's queue of template resource `logical_id`.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, logical_id: &str) -> String {
    let name = format!("{}-{logical_id}", required_env("BALLOT_STACK"));
    sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url.expect("the queue")
}

/// How many messages a queue holds: (visible, in flight).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName::{ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible};
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(ApproximateNumberOfMessages)
        .attribute_names(ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let count = |name| out.attributes().and_then(|a| a.get(&name)).and_then(|n| n.parse().ok()).expect("a count");
    (count(ApproximateNumberOfMessages), count(ApproximateNumberOfMessagesNotVisible))
}

/// The subject of a token (its payload's `sub`), read without verifying it.
pub fn subject_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    let claims: serde_json::Value = serde_json::from_slice(&payload).expect("JSON claims");
    claims["sub"].as_str().expect("a sub").to_owned()
}

/// Waits (up to `timeout`) until `check` holds; whether it did.
pub async fn eventually<F: Future<Output = bool>>(timeout: std::time::Duration, check: impl Fn() -> F) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    check().await
}

/// Registers a webhook of `poll` for `events`; returns (webhook id, secret).
pub async fn register_webhook(owner: &str, poll: &str, url: &str, events: &[&str]) -> (String, String) {
    let response = call("POST", &format!("/v1/polls/{poll}/webhooks"), owner)
        .json(&serde_json::json!({"url": url, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{url}");
    let body: serde_json::Value = response.json().await.unwrap();
    (body["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

/// A new viewer votes for `option` of `poll` (201 expected).
pub async fn vote_as_new_viewer(poll: &str, option: &str) {
    let (voter, _) = token_for_account(&[ballot_core::access::Role::Viewer]).await;
    let response = call("POST", &format!("/v1/polls/{poll}/votes"), &voter)
        .json(&serde_json::json!({"option_ids": [option]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// `POST path` to the local gateway with `token` and the JSON `body`: the answer's JSON.
pub async fn post_as(token: &str, path: &str, body: &serde_json::Value) -> serde_json::Value {
    call("POST", path, token).json(body).send().await.unwrap().json().await.unwrap()
}

/// A request to the local gateway with `token`.
pub fn call(method: &str, path: &str, token: &str) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    client().request(method, format!("{}{path}", api())).bearer_auth(token)
}

/// Every item of the local table's partition `pk`, as DynamoDB returns them.
pub async fn partition_items(
    pk: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let store = local_store().await;
    let out = store
        .db
        .query()
        .table_name(&store.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()))
        .send()
        .await
        .expect("a query of the local table");
    out.items.unwrap_or_default()
}

/// How many items of the local table have `poll_id` in their key (a full scan).
pub async fn items_of_poll(store: &shared::store::Store, poll_id: &str) -> usize {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let mut count = 0;
    let mut start = None;
    loop {
        let out = store
            .db
            .scan()
            .table_name(&store.table)
            .filter_expression("contains(pk, :id) OR contains(sk, :id)")
            .expression_attribute_values(":id", AttributeValue::S(poll_id.to_owned()))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        count += out.count as usize;
        start = out.last_evaluated_key;
        if start.is_none() {
            return count;
        }
    }
}

/// Waits (up to a minute) until the stream tally of `poll_id` says what a recount of its
/// ballots says, as `make recount` compares them; panics with both when it never does.
/// Call it once every vote of the scenario is answered: the ballots are then final, so
/// they are recounted once (128 queries) and the tally (one query) is read until it
/// agrees, and once more after a pause to see that it stays there.
pub async fn assert_recounted(poll_id: &str) {
    let store = local_store().await;
    let recounted = store.recount(poll_id).await.unwrap().expect("the poll exists");
    let agrees = || {
        let (store, recounted) = (&store, &recounted);
        async move { store.tallied(poll_id).await.unwrap() == *recounted }
    };
    let agree = eventually(std::time::Duration::from_secs(60), agrees).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let tallied = store.tallied(poll_id).await.unwrap();
    assert!(agree && tallied == recounted, "the tally {tallied:?} did not settle on the recount {recounted:?}");
}

/// Runs `make ARGS…` in the repository, as an operator would against the running stack;
/// what it printed. A failing command fails the test with its output.
pub fn make(args: &[&str]) -> String {
    let output = std::process::Command::new("make")
        .arg("--no-print-directory")
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("make runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "make {args:?}: {text}{}", String::from_utf8_lossy(&output.stderr));
    text
}

/// A TCP port free on 127.0.0.1 at this moment.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
