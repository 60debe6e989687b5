//! The local WebSocket API: serves the template's `AWS::ApiGatewayV2::Api` (`ProtocolType:
//! WEBSOCKET`) on a port of its own, the way API Gateway does, and its `@connections`
//! management API on the same port.
//!
//! - A WebSocket handshake at `/<stage>` invokes `$connect` with a `CONNECT` event (the
//!   request's headers and query string, as `ApiGatewayWebsocketProxyRequest` reads
//!   them). A 2xx answer opens the connection, with the answer's `Sec-WebSocket-Protocol`
//!   header echoed; any other status refuses the handshake with that status.
//! - A text message invokes the route its body's selection field names (API Gateway's
//!   `$request.body.<field>`), else `$default`, with a `MESSAGE` event. A route with a
//!   `RouteResponseSelectionExpression` sends the function's `body` back to the client;
//!   without a route the client gets API Gateway's `Forbidden` frame. Messages of one
//!   connection are handled in order; frames above 32 KB and messages above 128 KB close
//!   the connection (1009), as API Gateway does.
//! - The connection ends when either side closes it, after `idle` without a message from
//!   the client (API Gateway: 10 minutes), after `max` in all (2 hours), or on a
//!   management `DELETE`; then `$disconnect` is invoked with a `DISCONNECT` event.
//! - `POST`/`GET`/`DELETE /<stage>/@connections/<id>` send a frame, describe the
//!   connection or close it; a connection that is gone is `410 GoneException`, which is
//!   what the functions' `aws-sdk-apigatewaymanagement` client gets, with only its
//!   endpoint switched.

pub mod api;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message,
        handshake::derive_accept_key,
        protocol::{CloseFrame, Role, WebSocketConfig, frame::coding::CloseCode},
    },
};

use crate::gateway::{event::parse_query, router::decode};
use crate::invoke::Invoker;
pub use api::{LiveApi, LiveRoute};

/// API Gateway's largest WebSocket frame and message.
const MAX_FRAME: usize = 32 * 1024;
const MAX_MESSAGE: usize = 128 * 1024;
/// API Gateway's integration timeout for WebSocket routes.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// Where the local WebSocket API listens: `BALLOT_WS_URL`, by default
/// `ws://127.0.0.1:3001` (what `!GetAtt <Api>.ApiEndpoint` gives locally; in AWS it is
/// `wss://<api>.execute-api.<region>.amazonaws.com`).
pub fn endpoint() -> String {
    std::env::var("BALLOT_WS_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "ws://127.0.0.1:3001".into())
}

/// How long connections last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Without a message from the client (API Gateway: 10 minutes).
    pub idle: Duration,
    /// In all (API Gateway: 2 hours).
    pub max: Duration,
}

impl Lifetimes {
    /// API Gateway's, or `BALLOT_WS_IDLE_SECS` / `BALLOT_WS_MAX_SECS` (shorter for tests).
    pub fn from_env() -> Self {
        let secs = |name: &str, default: u64| {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|s| *s > 0).unwrap_or(default)
        };
        Self {
            idle: Duration::from_secs(secs("BALLOT_WS_IDLE_SECS", 600)),
            max: Duration::from_secs(secs("BALLOT_WS_MAX_SECS", 7200)),
        }
    }
}

/// What a connection's task is told from outside.
enum Order {
    Send(Message),
    /// Close it (a management `DELETE`).
    Close,
}

/// An open connection, as the management API sees it.
struct Connection {
    orders: mpsc::UnboundedSender<Order>,
    connected_at_ms: u64,
    last_active_ms: Arc<Mutex<u64>>,
    source_ip: String,
    user_agent: Option<String>,
}

/// The WebSocket gateway.
pub struct LiveGateway {
    api: LiveApi,
    invoker: Invoker,
    lifetimes: Lifetimes,
    connections: Mutex<HashMap<String, Connection>>,
    /// The stage's token bucket: (tokens, last refill).
    bucket: Mutex<(f64, std::time::Instant)>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A connection id shaped like API Gateway's (16 characters of base64).
fn connection_id() -> String {
    use base64::Engine;
    let random: [u8; 11] = std::array::from_fn(|_| rand_byte());
    base64::engine::general_purpose::STANDARD.encode(random)
}

fn rand_byte() -> u8 {
    let mut byte = [0u8; 1];
    aws_lc_rs::rand::fill(&mut byte).expect("the system's random source");
    byte[0]
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
}

/// An error of the management API, as its REST-JSON protocol carries it.
fn management_error(status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
    let mut response = text(status, json!({"message": message}).to_string());
    response.headers_mut().insert("x-amzn-errortype", code.parse().expect("an error code is a header value"));
    response.headers_mut().insert("content-type", "application/json".parse().expect("static"));
    response
}

impl LiveGateway {
    pub fn new(api: LiveApi, invoke_url: &str, lifetimes: Lifetimes) -> Self {
        let burst = api.throttle.map_or(f64::MAX, |(_, burst)| burst as f64);
        Self {
            api,
            invoker: Invoker::new(invoke_url, INTEGRATION_TIMEOUT),
            lifetimes,
            connections: Mutex::default(),
            bucket: Mutex::new((burst, std::time::Instant::now())),
        }
    }

    /// What it serves, one line each (printed by the gateway at start).
    pub fn served(&self, address: SocketAddr) -> Vec<String> {
        let mut lines = vec![format!(
            "WebSocket ws://{address}/{} (routes on $request.body.{}):",
            self.api.stage, self.api.selection_field
        )];
        lines.extend(self.api.routes.values().map(|r| format!("  {} -> {}", r.key, r.binary)));
        lines.push(format!("  @connections at http://{address}/{}/@connections/{{id}}", self.api.stage));
        lines
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let gateway = Arc::clone(&self);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, std::convert::Infallible>(gateway.handle(req, peer).await.map(Full::new)) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                let _ = connection.await;
            });
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Bytes> {
        let path = req.uri().path().to_owned();
        let stage = format!("/{}", self.api.stage);
        if let Some(id) = path.strip_prefix(&format!("{stage}/@connections/")) {
            // An id that does not decode names no connection: the management API answers 410.
            return self.manage(req, &decode(id).unwrap_or_else(|| id.to_owned())).await;
        }
        let upgrade = req.headers().get(http::header::UPGRADE).and_then(|v| v.to_str().ok());
        if path.trim_end_matches('/') == stage && upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            return self.connect(req, peer).await;
        }
        text(StatusCode::FORBIDDEN, json!({"message": "Forbidden"}).to_string())
    }

    /// A handshake: `$connect` decides; on a 2xx, the upgrade.
    async fn connect(self: Arc<Self>, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Bytes> {
        let headers = req.headers().clone();
        let key = headers.get("sec-websocket-key").map(|k| derive_accept_key(k.as_bytes()));
        let (Some(accept), Some("13")) = (key, headers.get("sec-websocket-version").and_then(|v| v.to_str().ok()))
        else {
            return text(StatusCode::BAD_REQUEST, "a WebSocket handshake needs Sec-WebSocket-Key and version 13");
        };
        let id = connection_id();
        let connected_at_ms = now_ms();
        let context = Context { id: &id, connected_at_ms, source_ip: &peer.ip().to_string(), api: &self.api };
        let mut protocol = None;
        if let Some(route) = self.api.routes.get("$connect") {
            let event = context.event(
                "$connect",
                "CONNECT",
                json!({
                    "headers": single_headers(&headers),
                    "multiValueHeaders": multi_headers(&headers),
                    "queryStringParameters": query(req.uri().query()),
                }),
            );
            let answer = match self.invoker.invoke(&route.binary, &event).await {
                Ok(answer) => answer,
                Err(err) => {
                    tracing::error!(function = %route.binary, error = %err, "$connect failed");
                    return text(StatusCode::INTERNAL_SERVER_ERROR, "");
                }
            };
            let status = answer["statusCode"].as_u64().and_then(|s| StatusCode::from_u16(s as u16).ok());
            let status = status.unwrap_or(StatusCode::OK);
            if !status.is_success() {
                return text(status, answer["body"].as_str().unwrap_or_default().to_owned());
            }
            protocol = header_of(&answer, "sec-websocket-protocol");
        }
        let user_agent = headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (orders, inbox) = mpsc::unbounded_channel();
        let last_active_ms = Arc::new(Mutex::new(connected_at_ms));
        let connection = Connection {
            orders,
            connected_at_ms,
            last_active_ms: Arc::clone(&last_active_ms),
            source_ip: peer.ip().to_string(),
            user_agent,
        };
        self.connections.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), connection);
        let upgrade = hyper::upgrade::on(&mut req);
        let gateway = Arc::clone(&self);
        let source_ip = peer.ip().to_string();
        tokio::spawn(async move {
            let upgraded = match upgrade.await {
                Ok(upgraded) => upgraded,
                Err(err) => {
                    tracing::info!(connection = %id, error = %err, "upgrade failed");
                    gateway.forget(&id);
                    let context = Context { id: &id, connected_at_ms, source_ip: &source_ip, api: &gateway.api };
                    gateway.disconnected(&context, 1006, "Connection closed abnormally").await;
                    return;
                }
            };
            let config = WebSocketConfig::default().max_frame_size(Some(MAX_FRAME)).max_message_size(Some(MAX_MESSAGE));
            let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
            let context = Context { id: &id, connected_at_ms, source_ip: &source_ip, api: &gateway.api };
            let (code, reason) = gateway.run(socket, inbox, &context, &last_active_ms).await;
            gateway.forget(&id);
            gateway.disconnected(&context, code, &reason).await;
        });
        let mut response = text(StatusCode::SWITCHING_PROTOCOLS, "");
        let out = response.headers_mut();
        out.insert(http::header::UPGRADE, "websocket".parse().expect("static"));
        out.insert(http::header::CONNECTION, "Upgrade".parse().expect("static"));
        out.insert("sec-websocket-accept", accept.parse().expect("base64 is a header value"));
        if let Some(protocol) = protocol.and_then(|p| p.parse().ok()) {
            out.insert("sec-websocket-protocol", protocol);
        }
        response
    }

    fn forget(&self, id: &str) {
        self.connections.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Serves one connection until it ends; the close code and reason.
    async fn run(
        &self,
        socket: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
        mut inbox: mpsc::UnboundedReceiver<Order>,
        context: &Context<'_>,
        last_active_ms: &Mutex<u64>,
    ) -> (u16, String) {
        let (mut sink, mut stream) = socket.split();
        let ends_at = tokio::time::Instant::now() + self.lifetimes.max;
        // Only what the client sends keeps a connection from idling out, as in API Gateway.
        let mut idle_until = tokio::time::Instant::now() + self.lifetimes.idle;
        loop {
            let (close, code, reason) = tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(body))) => {
                        idle_until = tokio::time::Instant::now() + self.lifetimes.idle;
                        *last_active_ms.lock().unwrap_or_else(|e| e.into_inner()) = now_ms();
                        if let Some(reply) = self.message(context, body.as_str()).await {
                            let _ = sink.send(Message::text(reply)).await;
                        }
                        continue;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let reply = json!({"message": "Forbidden", "connectionId": context.id}).to_string();
                        let _ = sink.send(Message::text(reply)).await;
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                        (false, code, frame.map_or_else(|| "Client-side close frame status not set".into(), |f| f.reason.to_string()))
                    }
                    Some(Err(err)) => {
                        let too_big = matches!(err, tokio_tungstenite::tungstenite::Error::Capacity(_));
                        (too_big, if too_big { 1009 } else { 1006 }, err.to_string())
                    }
                    None => (false, 1006, "Connection closed abnormally".into()),
                },
                order = inbox.recv() => match order {
                    Some(Order::Send(message)) => {
                        let _ = sink.send(message).await;
                        continue;
                    }
                    Some(Order::Close) | None => (true, 1000, "Connection closed by the server".into()),
                },
                _ = tokio::time::sleep_until(idle_until) => (true, 1001, "Going away: idle timeout".into()),
                _ = tokio::time::sleep_until(ends_at) => (true, 1001, "Going away: connection duration".into()),
            };
            if close {
                let frame = CloseFrame { code: CloseCode::from(code), reason: reason.clone().into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
            }
            let _ = sink.close().await;
            return (code, reason);
        }
    }

    /// One message from the client: its route's answer to send back, if any.
    async fn message(&self, context: &Context<'_>, body: &str) -> Option<String> {
        let request_id = uuid::Uuid::new_v4().to_string();
        if !self.admit() {
            return Some(
                json!({"message": "Too Many Requests", "connectionId": context.id, "requestId": request_id})
                    .to_string(),
            );
        }
        let Some(route) = self.api.select(body) else {
            return Some(
                json!({"message": "Forbidden", "connectionId": context.id, "requestId": request_id}).to_string(),
            );
        };
        let event = context.event(&route.key, "MESSAGE", json!({"body": body, "messageId": request_id}));
        match self.invoker.invoke(&route.binary, &event).await {
            Ok(answer) => route.responds.then(|| answer["body"].as_str().map(str::to_owned)).flatten(),
            Err(err) => {
                tracing::error!(function = %route.binary, error = %err, "route failed");
                Some(
                    json!({"message": "Internal server error", "connectionId": context.id, "requestId": request_id})
                        .to_string(),
                )
            }
        }
    }

    /// The stage's throttle: a token bucket of the `DefaultRouteSettings`.
    fn admit(&self) -> bool {
        let Some((rate, burst)) = self.api.throttle else { return true };
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        bucket.0 = (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * rate).min(burst as f64);
        bucket.1 = now;
        if bucket.0 < 1.0 {
            return false;
        }
        bucket.0 -= 1.0;
        true
    }

    async fn disconnected(&self, context: &Context<'_>, code: u16, reason: &str) {
        let Some(route) = self.api.routes.get("$disconnect") else { return };
        let event = context.event(
            "$disconnect",
            "DISCONNECT",
            json!({
                "disconnectStatusCode": code,
                "disconnectReason": reason,
            }),
        );
        if let Err(err) = self.invoker.invoke(&route.binary, &event).await {
            tracing::error!(function = %route.binary, error = %err, "$disconnect failed");
        }
    }

    /// The `@connections` management API.
    async fn manage(&self, req: Request<Incoming>, id: &str) -> Response<Bytes> {
        let method = req.method().clone();
        let body = match Limited::new(req.into_body(), MAX_MESSAGE + 1).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return management_error(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeException", "Message too long");
            }
        };
        let connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        let Some(connection) = connections.get(id) else {
            return management_error(StatusCode::GONE, "GoneException", "");
        };
        match method {
            Method::POST if body.len() > MAX_MESSAGE => {
                management_error(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeException", "Message too long")
            }
            Method::POST => {
                let message = match String::from_utf8(body.to_vec()) {
                    Ok(text) => Message::text(text),
                    Err(_) => Message::binary(body),
                };
                match connection.orders.send(Order::Send(message)) {
                    Ok(()) => text(StatusCode::OK, ""),
                    Err(_) => management_error(StatusCode::GONE, "GoneException", ""),
                }
            }
            Method::GET => {
                let at = |ms: u64| humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string();
                let last = *connection.last_active_ms.lock().unwrap_or_else(|e| e.into_inner());
                let body = json!({
                    "ConnectedAt": at(connection.connected_at_ms),
                    "LastActiveAt": at(last),
                    "Identity": {"SourceIp": connection.source_ip, "UserAgent": connection.user_agent},
                });
                let mut response = text(StatusCode::OK, body.to_string());
                response.headers_mut().insert("content-type", "application/json".parse().expect("static"));
                response
            }
            Method::DELETE => {
                let _ = connection.orders.send(Order::Close);
                text(StatusCode::NO_CONTENT, "")
            }
            _ => management_error(StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden"),
        }
    }

    /// Connections open now (for tests and the bench).
    pub fn open_connections(&self) -> usize {
        self.connections.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// What every event of one connection carries.
struct Context<'a> {
    id: &'a str,
    connected_at_ms: u64,
    source_ip: &'a str,
    api: &'a LiveApi,
}

impl Context<'_> {
    /// An `ApiGatewayWebsocketProxyRequest` of `event_type` on `route_key`; `extra` adds
    /// top-level fields (`headers`, `body`…) and request-context fields (`messageId`,
    /// `disconnectStatusCode`, `disconnectReason`).
    fn event(&self, route_key: &str, event_type: &str, extra: Value) -> Value {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut context = json!({
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "messageDirection": "IN",
            "stage": self.api.stage,
            "connectedAt": self.connected_at_ms,
            "requestTimeEpoch": now_ms(),
            "identity": {"sourceIp": self.source_ip},
            "requestId": request_id,
            "domainName": "127.0.0.1",
            "connectionId": self.id,
            "apiId": self.api.id,
        });
        let mut event = json!({"requestContext": {}, "isBase64Encoded": false});
        for (key, value) in extra.as_object().into_iter().flatten() {
            match key.as_str() {
                "messageId" | "disconnectStatusCode" | "disconnectReason" => context[key] = value.clone(),
                _ if !value.is_null() => event[key] = value.clone(),
                _ => {}
            }
        }
        event["requestContext"] = context;
        event
    }
}

fn single_headers(headers: &HeaderMap) -> Value {
    let mut out = serde_json::Map::new();
    for (name, value) in headers {
        out.insert(name.as_str().to_owned(), Value::String(value.to_str().unwrap_or_default().to_owned()));
    }
    Value::Object(out)
}

fn multi_headers(headers: &HeaderMap) -> Value {
    let mut out: serde_json::Map<String, Value> = serde_json::Map::new();
    for (name, value) in headers {
        let values = out.entry(name.as_str()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = values {
            values.push(Value::String(value.to_str().unwrap_or_default().to_owned()));
        }
    }
    Value::Object(out)
}

/// The query string as `queryStringParameters` (`null` when there is none).
fn query(query: Option<&str>) -> Value {
    parse_query(query).0.map_or(Value::Null, Value::Object)
}

/// A header of a Lambda proxy answer, by case-insensitive name.
fn header_of(answer: &Value, name: &str) -> Option<String> {
    let headers = answer["headers"].as_object()?;
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_queries_then_they_decode() {
        assert_eq!(query(Some("token=a.b.c&x=1%202")), json!({"token": "a.b.c", "x": "1 2"}));
        assert_eq!(query(None), Value::Null);
    }

    #[test]
    fn given_connection_ids_then_they_are_shaped_like_api_gateway_s() {
        let id = connection_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        assert_ne!(id, connection_id());
    }
}
