//! With the AWS endpoint down, the API degrades the way a client can act on: deep health
//! is 503 problem+json naming no internals, and everything else is still served.
//! `make test` runs this last, after stopping moto; run alone, it first proves the
//! endpoint is down.

use ballot_tests::{api, assert_problem, assert_security_headers, client, required_env};

#[tokio::test]
async fn given_the_aws_endpoint_down_when_checking_deep_health_then_503_and_the_gateway_keeps_serving() {
    let endpoint = required_env("AWS_ENDPOINT_URL");
    assert!(client().get(&endpoint).send().await.is_err(), "{endpoint} still answers: stop it before this test");

    let response = client().get(format!("{}/v1/health?deep=true", api())).send().await.unwrap();
    assert_security_headers(response.headers());
    let problem = assert_problem(response, 503, "unavailable").await;
    assert_eq!(problem["detail"], "A dependency is unreachable: database, queue.");

    let shallow = client().get(format!("{}/v1/health", api())).send().await.unwrap();
    assert_eq!(shallow.status(), 200);
    let unknown = client().get(format!("{}/v1/nope", api())).send().await.unwrap();
    assert_problem(unknown, 404, "not-found").await;
}
