//! A fake Lambda Invoke API (`POST /2015-03-31/functions/<name>/invocations`, as
//! `cargo lambda watch` serves it) for the local gateway's tests: `play` answers each
//! invocation with an optional `X-Amz-Function-Error` kind and a JSON payload.

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc};

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
