//! The local gateway on a small test template (`fixtures/template.yaml`): throttling,
//! authorizer policy evaluation and caching, CORS preflight, and the SQS event-source
//! mapping with partial batch failures and redrive. The functions are played by a fake
//! Lambda Invoke API in this file, so each behaviour is the gateway's alone; queues are
//! real (moto or LocalStack at `AWS_ENDPOINT_URL`, started by `make test`).

mod support;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ballot_local::{bootstrap::Clients, gateway::Gateway, stack::Stack, template::Template};
use serde_json::{Value, json};

/// What the fake functions saw.
#[derive(Default)]
struct Seen {
    calls: HashMap<String, usize>,
    /// (message id, body, receive count) of every SQS record delivered to `worker`.
    deliveries: Vec<(String, String, u32)>,
}

/// The functions of the test template, answering like Lambda's Invoke API.
fn play(function: &str, event: &Value) -> (Option<&'static str>, Value) {
    match function {
        "echo" => {
            let body = json!({"resource": event["resource"], "pathParameters": event["pathParameters"],
                "authorizer": event["requestContext"]["authorizer"]});
            (
                None,
                json!({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body.to_string()}),
            )
        }
        "auth" => match event["headers"]["Authorization"].as_str() {
            // Allows reading items only, on whatever API and stage it is asked about.
            Some("Bearer reader") => {
                let arn = event["methodArn"].as_str().unwrap();
                let prefix: Vec<&str> = arn.splitn(3, '/').take(2).collect();
                let resource = format!("{}/GET/items/*", prefix.join("/"));
                (
                    None,
                    json!({"principalId": "user-1", "context": {"sub": "user-1", "roles": "viewer"},
                    "policyDocument": {"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [resource]}]}}),
                )
            }
            _ => (Some("Unhandled"), json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"})),
        },
        "worker" => {
            let failures: Vec<Value> = event["Records"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["body"].as_str().unwrap().contains("poison"))
                .map(|r| json!({"itemIdentifier": r["messageId"]}))
                .collect();
            (None, json!({"batchItemFailures": failures}))
        }
        other => panic!("no function {other}"),
    }
}

/// The fake Invoke API, counting calls and recording SQS deliveries before answering.
async fn fake_invoke_api(seen: Arc<Mutex<Seen>>) -> String {
    support::fake_invoke_api(Arc::new(move |function: String, event: Value| {
        {
            let mut seen = seen.lock().unwrap();
            *seen.calls.entry(function.clone()).or_default() += 1;
            for record in event["Records"].as_array().into_iter().flatten() {
                let count = record["attributes"]["ApproximateReceiveCount"].as_str().unwrap().parse().unwrap();
                let body = record["body"].as_str().unwrap().to_owned();
                seen.deliveries.push((record["messageId"].as_str().unwrap().to_owned(), body, count));
            }
        }
        let answer = play(&function, &event);
        Box::pin(async move { answer })
    }))
    .await
}

struct Local {
    base: String,
    seen: Arc<Mutex<Seen>>,
    gateway: Arc<Gateway>,
    template: Template,
    stack: Stack,
    clients: Clients,
    http: reqwest::Client,
}

/// Bootstraps a fresh stack of the test template and serves it.
async fn start() -> Local {
    let (template, stack, clients) = support::fixture_stack("template.yaml", "gw").await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let invoke_url = fake_invoke_api(Arc::clone(&seen)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let gateway = ballot_local::serve(&template, &stack, &clients, &invoke_url, listener).unwrap();
    Local { base, seen, gateway, template, stack, clients, http: reqwest::Client::new() }
}

impl Local {
    fn calls(&self, function: &str) -> usize {
        self.seen.lock().unwrap().calls.get(function).copied().unwrap_or(0)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, token).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        req.send().await.unwrap()
    }
}

async fn problem(response: reqwest::Response) -> Value {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn given_the_test_template_when_each_route_is_called_then_it_reaches_its_function() {
    let local = start().await;
    // The "reader" policy allows every GET; DELETE reaches the authorizer and stops there.
    for route in local.template.routes().unwrap() {
        let before = local.calls("echo");
        let response =
            local.send(route.method.parse().unwrap(), &route.path.replace("{id}", "7"), Some("reader")).await;
        let (status, reached) = if route.method == "DELETE" { (403, 0) } else { (200, 1) };
        assert_eq!(response.status(), status, "{} {}", route.method, route.path);
        assert_eq!(local.calls("echo") - before, reached, "{} {}", route.method, route.path);
    }
    assert_eq!(local.gateway.served_event_sources(), ["SQS WorkQueue -> worker"]);
}

#[tokio::test]
async fn given_messages_within_the_batching_window_when_consumed_then_one_invocation() {
    let local = start().await;
    let queue = &local.stack.physical["WorkQueue"].reference;
    local.clients.sqs.send_message().queue_url(queue).message_body("first").send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for body in ["second", "third"] {
        local.clients.sqs.send_message().queue_url(queue).message_body(body).send().await.unwrap();
    }
    for _ in 0..50 {
        if local.seen.lock().unwrap().deliveries.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let deliveries = local.seen.lock().unwrap().deliveries.clone();
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    assert_eq!(local.calls("worker"), 1, "the 1 s window gathers all three into one batch");
}

#[tokio::test]
async fn given_a_burst_of_3_when_a_4th_request_comes_then_429_problem_with_retry_after() {
    let local = start().await;
    for _ in 0..3 {
        assert_eq!(local.get("/limited", None).await.status(), 200);
    }
    let throttled = local.get("/limited", None).await;
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "1");
    let body = problem(throttled).await;
    assert_eq!(body["type"], "urn:ballot:problem:throttled");
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty() && !id.contains('$')));
    assert_eq!(local.calls("echo"), 3, "a throttled request never reaches the function");
    // Another method keeps its own bucket (the stage default).
    assert_eq!(local.get("/open", None).await.status(), 200);
}

#[tokio::test]
async fn given_no_token_when_calling_an_authorized_route_then_401_and_no_function_runs() {
    let local = start().await;
    let response = local.get("/items/1", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(problem(response).await["type"], "urn:ballot:problem:unauthorized");
    assert_eq!((local.calls("auth"), local.calls("echo")), (0, 0));
}

#[tokio::test]
async fn given_a_token_the_authorizer_rejects_when_calling_then_401() {
    let local = start().await;
    assert_eq!(local.get("/items/1", Some("bad")).await.status(), 401);
    assert_eq!(local.calls("auth"), 1);
    assert_eq!(local.calls("echo"), 0);
}

#[tokio::test]
async fn given_a_policy_for_reading_when_reading_then_the_context_reaches_the_function() {
    let local = start().await;
    let response = local.get("/items/42", Some("reader")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resource"], "/items/{id}");
    assert_eq!(body["pathParameters"]["id"], "42");
    assert_eq!(body["authorizer"]["sub"], "user-1");
    assert_eq!(body["authorizer"]["principalId"], "user-1");
}

#[tokio::test]
async fn given_a_cached_policy_for_reading_when_deleting_then_403_without_reauthorizing() {
    let local = start().await;
    assert_eq!(local.get("/items/1", Some("reader")).await.status(), 200);
    let denied = local.send(reqwest::Method::DELETE, "/items/1", Some("reader")).await;
    assert_eq!(denied.status(), 403);
    assert_eq!(problem(denied).await["type"], "urn:ballot:problem:forbidden");
    assert_eq!(local.get("/items/2", Some("reader")).await.status(), 200);
    assert_eq!(local.calls("auth"), 1, "the decision is cached per token, and re-evaluated per route");
    assert_eq!(local.calls("echo"), 2);
}

#[tokio::test]
async fn given_cors_when_preflighting_a_known_path_then_the_api_cors_headers_without_auth() {
    let local = start().await;
    let response = local.send(reqwest::Method::OPTIONS, "/items/1", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(response.headers()["access-control-allow-methods"], "GET,DELETE,OPTIONS");
    assert_eq!(local.calls("auth"), 0);
    assert_eq!(local.send(reqwest::Method::OPTIONS, "/nope", None).await.status(), 403);
}

#[tokio::test]
async fn given_a_minimum_compression_size_then_answers_go_gzipped_to_clients_that_ask_and_refusals_as_they_are() {
    let local = start().await;
    let get = |path: &'static str, accept: &'static str| {
        let request = local.http.get(format!("{}{path}", local.base));
        async move { request.header("accept-encoding", accept).send().await.unwrap() }
    };
    // The echo's answer is longer than the fixture's 32 bytes.
    let response = get("/open", "gzip, deflate, br").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let body = response.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["resource"], "/open");

    let response = get("/open", "br, gzip;q=0.5").await;
    assert!(response.headers().get("content-encoding").is_none());
    assert_eq!(response.json::<Value>().await.unwrap()["resource"], "/open");

    // API Gateway's own answers (here the authorizer's 401) are not compressed.
    let response = get("/items/1", "gzip").await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("content-encoding").is_none());
    assert_eq!(problem(response).await["status"], 401);
}

#[tokio::test]
async fn given_a_batch_with_poisoned_messages_when_consumed_then_only_they_return_and_reach_the_dlq() {
    let local = start().await;
    let queue = &local.stack.physical["WorkQueue"].reference;
    let dlq = &local.stack.physical["WorkDeadLetterQueue"].reference;
    let bodies = ["m1", "poison-2", "m3", "poison-4", "m5"];
    for body in bodies {
        local.clients.sqs.send_message().queue_url(queue).message_body(body).send().await.unwrap();
    }
    // Redrive happens on the receive after maxReceiveCount (2), after the 1 s visibility timeout.
    let mut in_dlq = Vec::new();
    for _ in 0..30 {
        let out = local
            .clients
            .sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        in_dlq.extend(out.messages.unwrap_or_default().into_iter().map(|m| m.body.unwrap_or_default()));
        if in_dlq.len() >= 2 {
            break;
        }
    }
    in_dlq.sort();
    assert_eq!(in_dlq, ["poison-2", "poison-4"]);
    let deliveries = local.seen.lock().unwrap().deliveries.clone();
    let delivered = |body: &str| deliveries.iter().filter(|d| d.1 == body).map(|d| d.2).collect::<Vec<_>>();
    for good in ["m1", "m3", "m5"] {
        assert_eq!(delivered(good), [1], "{good} succeeded once and was deleted");
    }
    for bad in ["poison-2", "poison-4"] {
        assert_eq!(delivered(bad), [1, 2], "{bad} went back to the queue after each failure");
    }
    let left = local.clients.sqs.receive_message().queue_url(queue).wait_time_seconds(1).send().await.unwrap();
    assert!(left.messages.unwrap_or_default().is_empty(), "nothing is left on the source queue");
}
