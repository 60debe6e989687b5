//! What the local gateway's test binaries share: a fresh stack of a fixture template on
//! the local endpoint, and a fake Lambda Invoke API (`POST
//! /2015-03-31/functions/<name>/invocations`, as `cargo lambda watch` serves it) whose
//! `play` answers each invocation with an optional `X-Amz-Function-Error` kind and a
//! JSON payload.

use std::{convert::Infallible, future::Future, path::Path, pin::Pin, sync::Arc};

use ballot_local::{
    bootstrap::{self, Clients},
    keys::random_token,
    stack::Stack,
    template::Template,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// A function's answer: the error kind (`None`: success) and the payload.
pub type Answer = (Option<&'static str>, Value);
pub type Play = Arc<dyn Fn(String, Value) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

/// Serves the Invoke API on a free port; returns its base URL.
pub async fn fake_invoke_api(play: Play) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let play = Arc::clone(&play);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let play = Arc::clone(&play);
                    async move {
                        let function = req.uri().path().split('/').nth(3).unwrap_or_default().to_owned();
                        let event: Value =
                            serde_json::from_slice(&req.into_body().collect().await.unwrap().to_bytes()).unwrap();
                        let (error, payload) = play(function, event).await;
                        let mut response = Response::new(Full::new(Bytes::from(payload.to_string())));
                        if let Some(kind) = error {
                            response.headers_mut().insert("x-amz-function-error", kind.parse().unwrap());
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    base
}

/// Bootstraps a stack named `<prefix><random>` of `tests/fixtures/<fixture>` on
/// `AWS_ENDPOINT_URL`, which must be local.
pub async fn fixture_stack(fixture: &str, prefix: &str) -> (Template, Stack, Clients) {
    assert!(
        ballot_local::is_loopback_url(&std::env::var("AWS_ENDPOINT_URL").unwrap_or_default()),
        "AWS_ENDPOINT_URL must point at the local stack (moto or LocalStack): run `make test`"
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixture);
    let template = Template::load(&path).unwrap();
    let clients = Clients::from_env().await;
    let name = format!("{prefix}{}", random_token(6).to_lowercase().replace(['-', '_'], "x"));
    let mut stack = Stack::new(&template, &name, "us-east-1", &[]).unwrap();
    bootstrap::bootstrap(&template, &mut stack, &clients).await.unwrap();
    (template, stack, clients)
}
