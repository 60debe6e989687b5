//! Logs and metrics a request leaves, read from the functions' own output under `cargo
//! lambda watch` (`$BALLOT_STATE_DIR/watch.log`): a vote, a webhook delivery and a login
//! refused by a limit each leave valid EMF lines of their metrics, and every log line of
//! the request carries its X-Ray trace id (the one the runtime got as
//! `Lambda-Runtime-Trace-Id`), the same on each line and on its metric lines.
//!
//! Locally the trace id is the one `cargo lambda watch` gives each invocation: it starts a
//! new trace per invoke rather than continue the gateway's `X-Amzn-Trace-Id` (cargo-lambda
//! 1.9.2, trigger_router.rs), which API Gateway and Lambda do in AWS. The gateway's own
//! header is checked here too (it answers with it).

use std::time::Duration;

use ballot_core::access::Role;
use ballot_tests::{
    Receiver, call, client_from, eventually, fresh_address, register_webhook, required_env, token_for_account,
    unique_email,
};
use serde_json::{Value, json};

/// Every JSON line of the functions' output so far.
fn lines() -> Vec<Value> {
    let path = std::path::Path::new(&required_env("BALLOT_STATE_DIR")).join("watch.log");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(Value::is_object).collect()
}

/// The value of `field` in the spans of a log line (outermost first), if any span has it.
fn span_field<'a>(line: &'a Value, field: &str) -> Option<&'a str> {
    line["spans"].as_array()?.iter().find_map(|span| span[field].as_str())
}

/// Whether `id` looks like an X-Ray trace id: `1-<8 hex>-<24 hex>`.
fn is_trace_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 3 && parts[0] == "1" && hex(parts[1], 8) && hex(parts[2], 24)
}

/// The log lines of one invocation, found by `field` = `value` in a span, once a line
/// with `message` is among them; their trace id, checked to be on every line of the
/// invocation (request and runtime spans alike) and the same throughout.
async fn invocation(field: &str, value: &str, message: &str) -> (Vec<Value>, String) {
    let found = |all: &[Value]| {
        all.iter()
            .find(|l| span_field(l, field) == Some(value) && l["fields"]["message"] == message)
            .and_then(|l| span_field(l, "lambda_request_id"))
            .map(str::to_owned)
    };
    assert!(
        eventually(Duration::from_secs(60), || async { found(&lines()).is_some() }).await,
        "a {message:?} line with {field} {value}"
    );
    let all = lines();
    let invocation_id = found(&all).unwrap();
    let of_it: Vec<Value> =
        all.into_iter().filter(|l| span_field(l, "lambda_request_id") == Some(invocation_id.as_str())).collect();
    let trace_id = span_field(&of_it[0], "trace_id").unwrap_or_default().to_owned();
    assert!(is_trace_id(&trace_id), "a trace id: {trace_id:?} in {}", of_it[0]);
    for line in &of_it {
        assert_eq!(span_field(line, "trace_id"), Some(trace_id.as_str()), "the trace id on every line: {line}");
        let header = span_field(line, "xrayTraceId").unwrap_or_default();
        assert!(header.starts_with(&format!("Root={trace_id};")), "the runtime's Lambda-Runtime-Trace-Id: {line}");
        assert_eq!(span_field(line, "service"), Some("ballot"), "{line}");
        assert!(span_field(line, "version").is_some_and(|v| !v.is_empty()), "{line}");
    }
    (of_it, trace_id)
}

/// The EMF line of `metric` written under `trace_id`, checked to be valid EMF: a
/// `_aws` member with a millisecond `Timestamp` and `CloudWatchMetrics` directives whose
/// every dimension is a string member and every metric a number member of the line.
async fn metric_line(metric: &str, trace_id: &str) -> Value {
    let find = || lines().into_iter().find(|l| l["trace_id"] == trace_id && l.get(metric).is_some());
    assert!(
        eventually(Duration::from_secs(30), || async { find().is_some() }).await,
        "an EMF line of {metric} under trace {trace_id}"
    );
    let line = find().unwrap();
    let aws = &line["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some_and(|t| t > 1_600_000_000_000), "{line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert!(!directives.is_empty());
    let mut named = false;
    for directive in directives {
        assert_eq!(directive["Namespace"], "Ballot", "{line}");
        for set in directive["Dimensions"].as_array().expect("Dimensions") {
            for dimension in set.as_array().expect("a dimension set") {
                let name = dimension.as_str().expect("a dimension name");
                assert!(line[name].as_str().is_some_and(|v| !v.is_empty()), "dimension {name} of {line}");
            }
        }
        for definition in directive["Metrics"].as_array().expect("Metrics") {
            let name = definition["Name"].as_str().expect("a metric name");
            assert!(line[name].is_number(), "metric {name} of {line}");
            assert!(["Count", "Milliseconds"].contains(&definition["Unit"].as_str().unwrap_or_default()));
            named |= name == metric;
        }
    }
    assert!(named, "the directive names {metric}: {line}");
    line
}

async fn poll(owner: &str) -> (String, String) {
    let body = json!({"question": "Traced?", "options": [{"text": "a"}, {"text": "b"}]});
    let poll: Value = call("POST", "/v1/polls", owner).json(&body).send().await.unwrap().json().await.unwrap();
    (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn given_a_vote_then_its_lines_carry_one_trace_id_and_votes_cast_is_a_metric() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let (id, option) = poll(&owner).await;
    let (voter, _) = token_for_account(&[Role::Viewer]).await;
    let response = call("POST", &format!("/v1/polls/{id}/votes"), &voter)
        .json(&json!({"option_ids": [option]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let gateway_trace = response.headers()["x-amzn-trace-id"].to_str().unwrap().to_owned();
    let root = gateway_trace.strip_prefix("Root=").and_then(|t| t.split(';').next()).unwrap_or_default();
    assert!(is_trace_id(root), "the gateway starts a trace: {gateway_trace}");
    let request_id = response.headers()["x-amzn-requestid"].to_str().unwrap().to_owned();

    let (of_it, trace_id) = invocation("request_id", &request_id, "responded").await;
    assert!(of_it.iter().all(|l| span_field(l, "function") == Some("cast-vote")));
    // make test logs SDK calls (LogSdkCalls): each DynamoDB call of the vote is a span in
    // the request's, closed with its time, under the same trace id (checked above).
    let sdk_calls: Vec<&Value> = of_it
        .iter()
        .filter(|l| l["fields"]["message"] == "close")
        .filter(|l| l["span"]["rpc.service"] == "DynamoDB")
        .collect();
    assert!(!sdk_calls.is_empty(), "the vote's DynamoDB calls are spans: {of_it:?}");
    assert!(sdk_calls.iter().all(|l| l["fields"]["time.busy"].is_string()), "{sdk_calls:?}");
    let line = metric_line("VotesCast", &trace_id).await;
    assert_eq!(line["VotesCast"], 1.0);
    assert_eq!(line["function"], "cast-vote");
}

#[tokio::test]
async fn given_a_webhook_delivery_then_its_consumer_lines_carry_the_event_and_a_sent_metric() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let (id, option) = poll(&owner).await;
    let receiver = Receiver::start(&[204]).await;
    register_webhook(&owner, &id, &receiver.url, &["vote.cast"]).await;
    ballot_tests::vote_as_new_viewer(&id, &option).await;
    let delivered = receiver.wait_for(1, Duration::from_secs(60)).await;
    let event_id = delivered[0].headers["webhook-id"].clone();

    let (of_it, trace_id) = invocation("event_id", &event_id, "delivered").await;
    assert!(of_it.iter().all(|l| span_field(l, "function") == Some("webhook-deliveries")));
    // The message's span names its message and event; the batch's names no API request.
    let delivered_line = of_it.iter().find(|l| l["fields"]["message"] == "delivered").unwrap();
    assert!(span_field(delivered_line, "message_id").is_some_and(|m| !m.is_empty()));
    let line = metric_line("WebhookDeliveriesSent", &trace_id).await;
    assert_eq!(line["function"], "webhook-deliveries");
}

#[tokio::test]
async fn given_a_login_refused_by_a_limit_then_logins_refused_is_a_metric_under_its_trace() {
    let client = client_from(&fresh_address());
    let email = unique_email("refused");
    let mut refused = None;
    for _ in 0..30 {
        let response = client
            .post(format!("{}/v1/auth/login", ballot_tests::api()))
            .json(&json!({"email": email, "password": "a wrong but long passphrase"}))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused = Some(response.headers()["x-amzn-requestid"].to_str().unwrap().to_owned());
            break;
        }
        assert_eq!(response.status(), 401);
    }
    let request_id = refused.expect("a 429 within 30 wrong logins from one address");
    let (of_it, trace_id) = invocation("request_id", &request_id, "responded").await;
    let responded = of_it.iter().find(|l| l["fields"]["message"] == "responded").unwrap();
    assert_eq!(responded["fields"]["status"], 429);
    let line = metric_line("LoginsRefused", &trace_id).await;
    assert_eq!(line["LoginsRefused"], 1.0);
    assert_eq!(line["function"], "login");
}

/// `make metrics` sums what the functions wrote: after a vote its VotesCast total is at
/// least the vote's, and equals the sum of the log's VotesCast lines.
#[tokio::test]
async fn given_a_vote_then_make_metrics_sums_votes_cast_from_the_log() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let (id, option) = poll(&owner).await;
    ballot_tests::vote_as_new_viewer(&id, &option).await;
    let log = std::path::Path::new(&required_env("BALLOT_STATE_DIR")).join("watch.log");
    let text = ballot_tests::make(&["metrics", &format!("LOG={}", log.display())]);
    let total: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("VotesCast"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a VotesCast total in:\n{text}"));
    assert!(total >= 1.0, "{text}");
    // The sum of the lines read before make ran is a floor (more votes may land since).
    let summed: f64 = lines().iter().filter_map(|l| l["VotesCast"].as_f64()).sum();
    assert!(total <= summed, "make metrics counts only what the log holds: {total} > {summed}");
}
