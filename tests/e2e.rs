//! End to end through the local gateway: what a client of `https://…/v1` sees.

use ballot_tests::{api, assert_problem, assert_security_headers, client, concrete_path, template, token_for};
use serde_json::Value;

#[tokio::test]
async fn given_the_stack_when_getting_health_then_200_json_with_security_headers() {
    let response = client().get(format!("{}/v1/health", api())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_security_headers(response.headers());
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()));
}

#[tokio::test]
async fn given_the_stack_when_getting_deep_health_then_both_dependencies_are_ok() {
    let response = client().get(format!("{}/v1/health?deep=true", api())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"], serde_json::json!({"database": "ok", "queue": "ok"}));
}

#[tokio::test]
async fn given_a_bad_deep_value_when_getting_health_then_400_problem() {
    let response = client().get(format!("{}/v1/health?deep=please", api())).send().await.unwrap();
    assert_security_headers(response.headers());
    let problem = assert_problem(response, 400, "bad-request").await;
    assert_eq!(problem["detail"], "The deep parameter must be true or false.");
}

#[tokio::test]
async fn given_an_unknown_route_when_called_then_404_problem() {
    let response = client().get(format!("{}/v1/nope", api())).send().await.unwrap();
    assert_security_headers(response.headers());
    assert_problem(response, 404, "not-found").await;
}

#[tokio::test]
async fn given_a_known_path_when_called_with_another_method_then_405_problem_with_allow() {
    let response = client().delete(format!("{}/v1/health", api())).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_problem(response, 405, "method-not-allowed").await;
}

#[tokio::test]
async fn given_a_body_over_api_gateways_limit_when_sent_then_413_problem() {
    let body = vec![b'x'; 10 * 1024 * 1024 + 1];
    let response = client().post(format!("{}/v1/health", api())).body(body).send().await.unwrap();
    assert_problem(response, 413, "payload-too-large").await;
}

#[tokio::test]
async fn given_the_allowed_origin_when_calling_then_cors_allows_it_and_no_other() {
    let origin = std::env::var("BALLOT_ALLOWED_ORIGIN").unwrap_or_else(|_| "http://localhost:5173".into());
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/health", api()))
        .header("origin", &origin)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], origin.as_str());
    let allowed = client().get(format!("{}/v1/health", api())).header("origin", &origin).send().await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], origin.as_str());
    let other =
        client().get(format!("{}/v1/health", api())).header("origin", "https://evil.example").send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

/// Every route of template.yaml reaches its function: the response carries the
/// `X-Request-Id` that only functions set, never the gateway's 404/405.
#[tokio::test]
async fn given_template_yaml_when_every_route_is_called_then_each_reaches_its_function() {
    let routes = template().routes().unwrap();
    assert!(!routes.is_empty(), "template.yaml declares no route");
    let admin = token_for(&[ballot_core::access::Role::Admin]).await;
    for route in routes {
        let method = if route.method == "ANY" { "GET" } else { route.method.as_str() };
        let url = format!("{}{}", api(), concrete_path(&route.path));
        let response = client().request(method.parse().unwrap(), &url).bearer_auth(&admin).send().await.unwrap();
        assert!(
            response.headers().contains_key("x-request-id"),
            "{} {} is not served by {} (status {})",
            route.method,
            route.path,
            route.binary,
            response.status()
        );
    }
}
