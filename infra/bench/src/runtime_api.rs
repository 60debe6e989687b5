//! A local stand-in for the AWS Lambda Runtime API: the HTTP interface that a custom runtime
//! such as `lambda_runtime` polls for work. Only what starting and invoking a function needs:
//!
//! - `GET  /2018-06-01/runtime/invocation/next`: the function asks for an event. The request
//!   is held open until the benchmark answers it with [`PendingNext::deliver`].
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error`: the outcome.
//! - `POST /2018-06-01/runtime/init/error`: the function failed to start.
//!
//! Every request is stamped with [`Instant::now`] as soon as it has been read in full, before
//! the benchmark looks at it, so its bookkeeping is not part of any measurement.

use std::{
    convert::Infallible,
    io,
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot},
    task::{JoinHandle, JoinSet},
};

const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// An HTTP response of the stand-in server.
type Reply = Response<Full<Bytes>>;

/// Something the function said to the Runtime API.
pub enum ApiEvent {
    /// The function asked for its next event.
    Next(PendingNext),
    /// The function reported an invocation's outcome, or its own failure to start.
    Report(Report),
}

/// A function's `GET /next`, held open until the benchmark answers it.
pub struct PendingNext {
    /// When the request reached the server.
    pub received_at: Instant,
    reply: oneshot::Sender<Reply>,
}

impl PendingNext {
    /// Answers the held request with `invocation` and returns the instant the answer was handed
    /// to the HTTP server: the start of a warm invocation.
    pub fn deliver(self, invocation: &Invocation) -> Result<Instant, &'static str> {
        let reply = invocation.to_reply();
        let sent_at = Instant::now();
        self.reply.send(reply).map_err(|_| "the function dropped its /next request")?;
        Ok(sent_at)
    }
}

/// An outcome the function posted.
pub struct Report {
    pub kind: ReportKind,
    /// The invocation it is about (none for an init error).
    pub request_id: Option<String>,
    pub body: Bytes,
    /// When the whole request, body included, had been read.
    pub received_at: Instant,
}

pub enum ReportKind {
    /// `POST .../{id}/response`
    Response,
    /// `POST .../{id}/error`, with its `Lambda-Runtime-Function-Error-Type`.
    Error(String),
    /// `POST /runtime/init/error`, with its `Lambda-Runtime-Function-Error-Type`.
    InitError(String),
}

/// One invocation as the Runtime API hands it to a function: the event plus the context headers.
pub struct Invocation {
    pub request_id: String,
    pub function_arn: String,
    pub deadline: SystemTime,
    pub trace_id: String,
    pub event: Bytes,
}

impl Invocation {
    /// The `n`-th invocation of `function` with `event`, due within `timeout`.
    pub fn new(function: &str, n: u64, event: Bytes, timeout: Duration) -> Self {
        let now = SystemTime::now();
        let epoch_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Self {
            request_id: format!("00000000-0000-4000-8000-{n:012x}"),
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
            deadline: now + timeout,
            trace_id: format!("Root=1-{epoch_secs:08x}-{n:024x};Parent={n:016x};Sampled=0"),
            event,
        }
    }

    fn to_reply(&self) -> Reply {
        let deadline_ms = self.deadline.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "application/json")
            .header("lambda-runtime-aws-request-id", &self.request_id)
            .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
            .header("lambda-runtime-invoked-function-arn", &self.function_arn)
            .header("lambda-runtime-trace-id", &self.trace_id)
            .body(Full::new(self.event.clone()))
            .unwrap_or_else(|_| status_only(StatusCode::INTERNAL_SERVER_ERROR))
    }
}

/// The running server, listening on `127.0.0.1` at a port the OS picked.
/// Dropping it stops the server and closes its connections.
pub struct RuntimeApi {
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<ApiEvent>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (sender, events) = mpsc::unbounded_channel();
        let server = tokio::spawn(accept_connections(listener, sender));
        Ok(Self { addr, events, server })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next thing the function says, in arrival order.
    pub async fn recv(&mut self) -> Option<ApiEvent> {
        self.events.recv().await
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves every connection until aborted; aborting drops the set, which ends the connections.
async fn accept_connections(listener: TcpListener, events: mpsc::UnboundedSender<ApiEvent>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, events.clone()));
                }
                Err(error) => {
                    eprintln!("bench: runtime API stopped accepting connections: {error}");
                    return;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, events: mpsc::UnboundedSender<ApiEvent>) {
    // The runtime client keeps one connection alive; no Nagle delay on our small replies.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(request, events.clone()));
    // A connection error only means the function went away (e.g. it was killed).
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

async fn handle(request: Request<Incoming>, events: mpsc::UnboundedSender<ApiEvent>) -> Result<Reply, Infallible> {
    let (parts, body) = request.into_parts();
    if parts.method == Method::GET && parts.uri.path() == NEXT_PATH {
        return Ok(hold_next(&events).await);
    }
    let Some((kind, request_id)) = classify_post(&parts.method, parts.uri.path(), &parts.headers) else {
        return Ok(status_only(StatusCode::NOT_FOUND));
    };
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return Ok(status_only(StatusCode::BAD_REQUEST));
    };
    let report = Report { kind, request_id, body, received_at: Instant::now() };
    if events.send(ApiEvent::Report(report)).is_err() {
        return Ok(status_only(StatusCode::SERVICE_UNAVAILABLE));
    }
    Ok(status_only(StatusCode::ACCEPTED))
}

/// Passes a `/next` to the benchmark and waits for the invocation it answers with.
async fn hold_next(events: &mpsc::UnboundedSender<ApiEvent>) -> Reply {
    let (reply, answer) = oneshot::channel();
    let pending = PendingNext { received_at: Instant::now(), reply };
    if events.send(ApiEvent::Next(pending)).is_err() {
        return status_only(StatusCode::SERVICE_UNAVAILABLE);
    }
    answer.await.unwrap_or_else(|_| status_only(StatusCode::GONE))
}

/// Which report a `POST` is, and for which request id; `None` for anything else.
fn classify_post(method: &Method, path: &str, headers: &HeaderMap) -> Option<(ReportKind, Option<String>)> {
    if method != Method::POST {
        return None;
    }
    let error_type =
        || headers.get(ERROR_TYPE_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("unspecified").to_owned();
    if path == INIT_ERROR_PATH {
        return Some((ReportKind::InitError(error_type()), None));
    }
    let (request_id, action) = path.strip_prefix(INVOCATION_PREFIX)?.split_once('/')?;
    let kind = match action {
        "response" => ReportKind::Response,
        "error" => ReportKind::Error(error_type()),
        _ => return None,
    };
    Some((kind, Some(request_id.to_owned())))
}

fn status_only(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = status;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_runtime_api_posts() {
        let mut headers = HeaderMap::new();
        headers.insert(ERROR_TYPE_HEADER, "Runtime.InitError".parse().unwrap());
        let post = |path| classify_post(&Method::POST, path, &headers);

        let (kind, id) = post("/2018-06-01/runtime/invocation/abc/response").unwrap();
        assert!(matches!(kind, ReportKind::Response));
        assert_eq!(id.as_deref(), Some("abc"));

        let (kind, id) = post("/2018-06-01/runtime/invocation/abc/error").unwrap();
        assert!(matches!(kind, ReportKind::Error(t) if t == "Runtime.InitError"));
        assert_eq!(id.as_deref(), Some("abc"));

        let (kind, id) = post("/2018-06-01/runtime/init/error").unwrap();
        assert!(matches!(kind, ReportKind::InitError(_)));
        assert_eq!(id, None);

        assert!(post("/2018-06-01/runtime/invocation/abc/other").is_none());
        assert!(classify_post(&Method::GET, "/2018-06-01/runtime/init/error", &headers).is_none());
    }

    /// Plays a function over raw HTTP/1.1 on one kept-alive connection, as `lambda_runtime` does.
    #[tokio::test]
    async fn hands_out_an_invocation_and_takes_back_its_response() {
        use tokio::io::AsyncWriteExt;

        let mut api = RuntimeApi::start().await.unwrap();
        let mut function = TcpStream::connect(api.addr()).await.unwrap();

        // GIVEN the function polls for an event
        function.write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let Some(ApiEvent::Next(next)) = api.recv().await else { panic!("expected a /next") };

        // WHEN the benchmark answers it
        let invocation =
            Invocation::new("health", 7, Bytes::from_static(b"{\"path\":\"/v1/health\"}"), Duration::from_secs(3));
        next.deliver(&invocation).unwrap();

        // THEN the function gets the event with the context headers
        let received = read_until(&mut function, "{\"path\":\"/v1/health\"}").await.to_lowercase();
        assert!(received.starts_with("http/1.1 200"), "{received}");
        assert!(received.contains(&format!("lambda-runtime-aws-request-id: {}", invocation.request_id)));
        for header in ["lambda-runtime-deadline-ms", "lambda-runtime-invoked-function-arn", "lambda-runtime-trace-id"] {
            assert!(received.contains(header), "{header} missing from {received}");
        }
        assert!(received.ends_with("{\"path\":\"/v1/health\"}"));

        // AND its response comes back as a report on that request
        let body = r#"{"statusCode":200}"#;
        let post = format!(
            "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            invocation.request_id,
            body.len()
        );
        function.write_all(post.as_bytes()).await.unwrap();
        let Some(ApiEvent::Report(report)) = api.recv().await else { panic!("expected a report") };
        assert!(matches!(report.kind, ReportKind::Response));
        assert_eq!(report.request_id.as_deref(), Some(invocation.request_id.as_str()));
        assert_eq!(report.body, body.as_bytes());
        assert!(read_until(&mut function, "\r\n\r\n").await.starts_with("HTTP/1.1 202"));
    }

    /// Reads from `stream` until what was read ends with `end`.
    async fn read_until(stream: &mut TcpStream, end: &str) -> String {
        use tokio::io::AsyncReadExt;

        let mut received = Vec::new();
        while !received.ends_with(end.as_bytes()) {
            let mut chunk = [0; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed after {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(received).unwrap()
    }
}
