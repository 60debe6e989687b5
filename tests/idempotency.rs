//! The idempotency utility (`shared::idempotency`) against the local stack's table:
//! replay, conflicting reuse, concurrent duplicates, 5xx release, per-caller scope and
//! lapsed locks.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use ballot_tests::{local_store, repo_root};
use lambda_http::{Body, Request, RequestExt, Response, http::StatusCode};
use shared::{ApiError, http, idempotency};

/// A request with `Idempotency-Key: key`, in an invocation that has [`LOCK`] left.
fn request(key: &str, body: &str) -> Request {
    request_with(key, body, deadline_in(LOCK))
}

/// The epoch milliseconds `left` from now.
fn deadline_in(left: Duration) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (now + left).as_millis() as u64
}

/// A request in an invocation whose Lambda context names `deadline` (epoch ms).
fn request_with(key: &str, body: &str, deadline: u64) -> Request {
    let sample = std::fs::read_to_string(repo_root().join("events/register.json")).unwrap();
    let mut req = lambda_http::request::from_str(&sample).unwrap();
    req.headers_mut().insert("idempotency-key", key.parse().unwrap());
    *req.body_mut() = Body::Text(body.to_owned());
    let mut context = lambda_http::Context::default();
    context.deadline = deadline;
    req.with_lambda_context(context)
}

fn key() -> String {
    format!("key-{}", ballot_core::ids::random_id())
}

/// A handler that counts its runs and answers 201 with the run number (or `status`).
fn handler(
    runs: &Arc<AtomicUsize>,
    status: StatusCode,
    delay: Duration,
) -> impl std::future::Future<Output = Result<Response<Body>, ApiError>> {
    let runs = Arc::clone(runs);
    async move {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(delay).await;
        let mut response = http::json(StatusCode::CREATED, &serde_json::json!({"run": run}))?;
        *response.status_mut() = status;
        Ok(response)
    }
}

const LOCK: Duration = Duration::from_secs(10);

#[tokio::test]
async fn given_a_repeated_request_when_sent_again_then_the_stored_response_is_replayed() {
    let (store, runs, key) = (local_store().await, Arc::new(AtomicUsize::new(0)), key());
    let req = request(&key, r#"{"a":1}"#);
    let first = idempotency::once(&store, "test", "u1", &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO))
        .await
        .unwrap();
    let second = idempotency::once(&store, "test", "u1", &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!((first.status(), second.status()), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.body().as_ref(), second.body().as_ref());
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn given_a_key_reused_with_another_body_then_422() {
    let (store, runs, key) = (local_store().await, Arc::new(AtomicUsize::new(0)), key());
    idempotency::once(&store, "test", "u1", &request(&key, r#"{"a":1}"#), || {
        handler(&runs, StatusCode::CREATED, Duration::ZERO)
    })
    .await
    .unwrap();
    let err = idempotency::once(&store, "test", "u1", &request(&key, r#"{"a":2}"#), || {
        handler(&runs, StatusCode::CREATED, Duration::ZERO)
    })
    .await
    .unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn given_a_concurrent_duplicate_still_in_flight_then_409_and_one_run() {
    let (store, runs, key) = (local_store().await, Arc::new(AtomicUsize::new(0)), key());
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let (store, runs, key) = (store.clone(), Arc::clone(&runs), key.clone());
            tokio::spawn(async move {
                let req = request(&key, r#"{"a":1}"#);
                let result = idempotency::once(&store, "test", "u1", &req, || {
                    handler(&runs, StatusCode::CREATED, Duration::from_millis(700))
                })
                .await;
                result.map(|r| r.status().as_u16()).unwrap_or_else(|e| e.status().as_u16())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn given_a_5xx_then_the_key_is_released_for_a_retry() {
    let (store, runs, key) = (local_store().await, Arc::new(AtomicUsize::new(0)), key());
    let req = request(&key, r#"{"a":1}"#);
    let failed = idempotency::once(&store, "test", "u1", &req, || {
        handler(&runs, StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO)
    })
    .await
    .unwrap();
    assert_eq!(failed.status(), 503);
    let retried = idempotency::once(&store, "test", "u1", &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(retried.status(), 201);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn given_two_callers_with_one_key_then_each_runs_once() {
    let (store, runs, key) = (local_store().await, Arc::new(AtomicUsize::new(0)), key());
    let req = request(&key, r#"{"a":1}"#);
    for caller in ["alice", "bob"] {
        idempotency::once(&store, "test", caller, &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO))
            .await
            .unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn given_a_holder_that_died_when_its_lock_lapses_then_a_retry_runs() {
    let (store, runs, key) = (local_store().await, Arc::new(AtomicUsize::new(0)), key());
    let short = Duration::from_secs(1);
    let dying = {
        let (store, runs, key) = (store.clone(), Arc::clone(&runs), key.clone());
        tokio::spawn(async move {
            let req = request_with(&key, r#"{"a":1}"#, deadline_in(short));
            let _ = idempotency::once(&store, "test", "u1", &req, || {
                handler(&runs, StatusCode::CREATED, Duration::from_secs(30))
            })
            .await;
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    dying.abort(); // the Lambda timed out mid-request: nothing completes or releases the key
    let req = request(&key, r#"{"a":1}"#);
    let blocked =
        idempotency::once(&store, "test", "u1", &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO)).await;
    assert_eq!(blocked.unwrap_err().status(), 409);
    // The lock lapses once the whole second of the deadline has passed.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let retried = idempotency::once(&store, "test", "u1", &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(retried.status(), 201);
}

#[test]
fn given_a_bad_key_then_400() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = local_store().await;
        let runs = Arc::new(AtomicUsize::new(0));
        let mut req = request("x", "{}");
        req.headers_mut().insert("idempotency-key", "a b".parse().unwrap());
        let err = idempotency::once(&store, "test", "u1", &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400);
    });
}

#[test]
fn given_the_template_when_read_then_the_idempotency_fallback_lock_is_the_functions_timeout() {
    let template = ballot_tests::template();
    let timeout = template.root.pointer("/Globals/Function/Timeout").and_then(serde_json::Value::as_u64);
    assert_eq!(timeout, Some(idempotency::FUNCTION_TIMEOUT.as_secs()));
    for id in
        ["CastVoteFunction", "CreatePollFunction", "CreateWebhookFunction", "ClosePollFunction", "ReopenPollFunction"]
    {
        let function = template.resource(id).unwrap_or_else(|| panic!("{id} in template.yaml"));
        assert!(function.pointer("/Properties/Timeout").is_none(), "{id} keeps the global Timeout");
    }
}

#[tokio::test]
async fn given_the_deadline_cargo_lambda_watch_sends_when_locking_then_the_lock_lasts_the_function_timeout() {
    let (store, runs, key) = (local_store().await, Arc::new(AtomicUsize::new(0)), key());
    // cargo lambda watch answers every invocation with Lambda-Runtime-Deadline-Ms: 600000.
    let as_watch_sends = || request_with(&key, r#"{"a":1}"#, 600_000);
    let running = {
        let (store, runs, req) = (store.clone(), Arc::clone(&runs), as_watch_sends());
        tokio::spawn(async move {
            idempotency::once(&store, "test", "u1", &req, || {
                handler(&runs, StatusCode::CREATED, Duration::from_secs(3))
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let req = as_watch_sends();
    let blocked = idempotency::once(&store, "test", "u1", &req, || handler(&runs, StatusCode::CREATED, Duration::ZERO));
    assert_eq!(blocked.await.unwrap_err().status(), 409, "still locked after 2.5 s");
    assert_eq!(running.await.unwrap().unwrap().status(), 201);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
