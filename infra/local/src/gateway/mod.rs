//! The local API gateway: serves the REST API of `template.yaml` on 127.0.0.1 the way API
//! Gateway does — routes and path parameters, payload limit, stage and per-method
//! throttling, Lambda `REQUEST` authorizers with IAM policy evaluation and result caching,
//! CORS preflight from the API's `Cors`, gateway responses from `GatewayResponses`, payload
//! compression from `MinimumCompressionSize` ([`compression`]) — behind
//! the web ACL's per-address rate rules ([`waf`]), and invokes the real function binaries
//! with REST proxy events (payload v1).

mod authorizer;
mod compression;
pub(crate) mod event;
pub mod policy;
mod responses;
pub mod router;
pub mod throttle;
pub mod waf;

use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::{
    invoke::Invoker,
    stack::{ResolveError, Stack},
    template::{Template, TemplateError},
};
use authorizer::{Authorizer, Verdict};
use responses::{GatewayResponses, Kind};
use router::{Match, Router};
use throttle::Throttle;

/// API Gateway's payload limit for REST APIs.
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// API Gateway's maximum integration timeout for REST APIs.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("{0}")]
    Config(String),
}

/// One `AWS::Serverless::Api` (or SAM's implicit API when routes name none).
#[derive(Debug)]
struct Api {
    id: String,
    stage: String,
    throttle: Throttle,
    responses: GatewayResponses,
    cors: Option<Vec<(String, String)>>,
    default_authorizer: Option<String>,
    authorizers: HashMap<String, Authorizer>,
    /// `MinimumCompressionSize`: integration answers of at least this many bytes are
    /// compressed for clients that ask (`None`: never).
    minimum_compression_size: Option<usize>,
}

/// The gateway, built once from the template and the stack it serves.
pub struct Gateway {
    router: Router,
    /// By logical id (`None`: SAM's implicit API); ordered, so the API that answers an
    /// unrouted request is the same on every run.
    apis: BTreeMap<Option<String>, Api>,
    invoker: Invoker,
    region: String,
    event_sources: Vec<String>,
    web_acl: waf::WebAcl,
}

impl Gateway {
    pub fn new(template: &Template, stack: &Stack, invoke_url: &str) -> Result<Self, GatewayError> {
        let routes = template.routes()?;
        let mut apis = BTreeMap::new();
        for (id, resource) in template.of_type("AWS::Serverless::Api") {
            apis.insert(Some(id.to_owned()), Api::from_template(id, &resource["Properties"], template, stack)?);
        }
        if routes.iter().any(|r| r.api.is_none()) {
            apis.insert(None, Api::implicit());
        }
        if let Some(route) = routes.iter().find(|r| !apis.contains_key(&r.api)) {
            return Err(GatewayError::Config(format!("{} names an unknown API {:?}", route.function, route.api)));
        }
        Ok(Self {
            web_acl: waf::WebAcl::from_template(template, stack)?,
            router: Router::new(routes),
            apis,
            invoker: Invoker::new(invoke_url, INTEGRATION_TIMEOUT),
            region: stack.region.clone(),
            event_sources: Vec::new(),
        })
    }

    /// Records the SQS event sources played beside this gateway, for [`Self::served_event_sources`].
    pub fn with_event_sources(mut self, sources: Vec<String>) -> Self {
        self.event_sources = sources;
        self
    }

    /// Every event source played, as `SQS <queue> -> <binary>`.
    pub fn served_event_sources(&self) -> &[String] {
        &self.event_sources
    }

    /// Every route served, as `METHOD /path` (the tests compare it with the template).
    pub fn served_routes(&self) -> Vec<String> {
        self.router.routes().iter().map(|r| format!("{} {}", r.method, r.path)).collect()
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let gateway = Arc::clone(&self);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, Infallible>(gateway.handle(req, peer).await.map(Full::new)) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    }

    /// One request, in AWS's order: the web ACL, then API Gateway's payload limit, route,
    /// throttle, authorizer, integration.
    async fn handle(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Bytes> {
        let request_id = uuid::Uuid::new_v4().to_string();
        // API Gateway with tracing continues a client's X-Ray trace header or starts one,
        // and hands it to the integration (and, as Lambda-Runtime-Trace-Id, to Lambda).
        let trace = req.headers().get(TRACE_HEADER).cloned().unwrap_or_else(new_trace_header);
        req.headers_mut().insert(TRACE_HEADER, trace.clone());
        let mut response = self.route(req, peer, &request_id).await;
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-requestid", id);
        }
        response.headers_mut().insert(TRACE_HEADER, trace);
        tracing::info!(request_id, status = response.status().as_u16(), "served");
        response.map(Bytes::from)
    }

    async fn route(&self, req: Request<Incoming>, peer: SocketAddr, request_id: &str) -> Response<Vec<u8>> {
        if let Some(blocked) = self.web_acl.blocked(peer.ip(), req.uri().path()) {
            return blocked;
        }
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let method = parts.method.as_str().to_ascii_uppercase();
        // Before a route is known, API Gateway's responses come from the first API.
        let any_api = self.apis.values().next().expect("at least one API when there are routes");
        let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return any_api.responses.render(Kind::RequestTooLarge, request_id),
        };
        if method == "OPTIONS"
            && let Some(response) = self.preflight(&path)
        {
            return response;
        }
        let (route, path_parameters) = match self.router.find(&method, &path) {
            Match::Found { route, path_parameters } => (route, path_parameters),
            Match::WrongMethod { allowed, api } => {
                return self.apis[&api].responses.method_not_allowed(&allowed, request_id);
            }
            Match::NotFound => return any_api.responses.render(Kind::MissingAuthenticationToken, request_id),
        };
        let api = &self.apis[&route.api];
        if let Err(wait) = api.throttle.admit(&route.path, &method) {
            tracing::info!(route = %route.path, wait_secs = wait, "throttled");
            return api.responses.render(Kind::Throttled, request_id);
        }
        let request = event::HttpRequest::new(&parts, &body, &path, &method, peer);
        let method_arn = format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}/{}",
            self.region,
            crate::LOCAL_ACCOUNT_ID,
            api.id,
            api.stage,
            method,
            path.trim_start_matches('/')
        );
        let mut context = event::Context {
            api_id: &api.id,
            stage: &api.stage,
            request_id,
            route,
            path_parameters: &path_parameters,
            authorizer: None,
        };
        if let Err(refusal) = self.authorize(api, &request, &mut context, &method_arn).await {
            return api.responses.render(refusal, request_id);
        }
        let proxy_event = request.proxy_event(&context);
        match self.invoker.invoke(&route.binary, &proxy_event).await {
            Ok(result) => match event::proxy_response(&result) {
                Ok(mut response) => {
                    compression::apply(api.minimum_compression_size, &parts.headers, &mut response);
                    response
                }
                Err(reason) => {
                    tracing::error!(function = %route.binary, %reason, "malformed Lambda proxy response");
                    api.responses.render(Kind::IntegrationFailure, request_id)
                }
            },
            Err(err) => {
                tracing::error!(function = %route.binary, error = %err, "integration failed");
                api.responses.render(Kind::IntegrationFailure, request_id)
            }
        }
    }

    /// Runs the route's authorizer (the event's own, else the API's default; `NONE` for
    /// none) and puts its context in `context`, or says which refusal API Gateway sends.
    async fn authorize(
        &self,
        api: &Api,
        request: &event::HttpRequest,
        context: &mut event::Context<'_>,
        method_arn: &str,
    ) -> Result<(), Kind> {
        let name = context.route.authorizer.as_ref().or(api.default_authorizer.as_ref()).filter(|a| *a != "NONE");
        let Some(name) = name else { return Ok(()) };
        let Some(authorizer) = api.authorizers.get(name) else {
            tracing::error!(authorizer = %name, "route names an authorizer the API does not define");
            return Err(Kind::AuthorizerFailure);
        };
        match authorizer.authorize(&self.invoker, request, context, method_arn).await {
            Verdict::Allow(authorizer_context) => {
                context.authorizer = Some(authorizer_context);
                Ok(())
            }
            Verdict::Unauthorized => Err(Kind::Unauthorized),
            Verdict::Denied => Err(Kind::AccessDenied),
            Verdict::Failed => Err(Kind::AuthorizerFailure),
        }
    }

    /// API Gateway's mock `OPTIONS` integration that SAM adds for an API's `Cors`.
    fn preflight(&self, path: &str) -> Option<Response<Vec<u8>>> {
        let api = match self.router.find("OPTIONS", path) {
            Match::Found { route, .. } => route.api.clone(),
            Match::WrongMethod { api, .. } => api,
            Match::NotFound => return None,
        };
        let headers = self.apis.get(&api)?.cors.as_ref()?;
        let mut response = Response::new(Vec::new());
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) =
                (http::HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
            {
                response.headers_mut().insert(name, value);
            }
        }
        *response.status_mut() = StatusCode::OK;
        Some(response)
    }
}

impl Api {
    fn implicit() -> Self {
        Self {
            id: "implicit".into(),
            stage: "Prod".into(),
            throttle: Throttle::default(),
            responses: GatewayResponses::default(),
            cors: None,
            default_authorizer: None,
            authorizers: HashMap::new(),
            minimum_compression_size: None,
        }
    }

    fn from_template(id: &str, props: &Value, template: &Template, stack: &Stack) -> Result<Self, GatewayError> {
        let settings = props["MethodSettings"].as_array().cloned().unwrap_or_default();
        let cors = match &props["Cors"] {
            Value::Null => None,
            cors => {
                let mut headers = Vec::new();
                for (property, header) in [
                    ("AllowOrigin", "Access-Control-Allow-Origin"),
                    ("AllowMethods", "Access-Control-Allow-Methods"),
                    ("AllowHeaders", "Access-Control-Allow-Headers"),
                    ("MaxAge", "Access-Control-Max-Age"),
                    ("AllowCredentials", "Access-Control-Allow-Credentials"),
                ] {
                    if let Some(value) = cors.get(property) {
                        let raw = stack.resolve(value)?;
                        let unquoted = raw.trim_matches('\'').to_owned();
                        headers.push((header.to_owned(), unquoted));
                    }
                }
                Some(headers)
            }
        };
        let auth = &props["Auth"];
        let mut authorizers = HashMap::new();
        for (name, spec) in auth["Authorizers"].as_object().into_iter().flatten() {
            authorizers.insert(name.clone(), Authorizer::from_template(name, spec, template)?);
        }
        Ok(Self {
            id: id.to_ascii_lowercase(),
            stage: stack.resolve(&props["StageName"]).unwrap_or_else(|_| "Prod".into()),
            throttle: Throttle::from_method_settings(&settings),
            responses: GatewayResponses::from_template(&props["GatewayResponses"], stack)?,
            cors,
            default_authorizer: auth["DefaultAuthorizer"].as_str().map(str::to_owned),
            authorizers,
            minimum_compression_size: match &props["MinimumCompressionSize"] {
                Value::Null => None,
                size => Some(stack.resolve(size)?.parse().map_err(|_| {
                    GatewayError::Config(format!("{id}'s MinimumCompressionSize is not a whole number of bytes"))
                })?),
            },
        })
    }
}

/// The X-Ray trace header.
const TRACE_HEADER: &str = "x-amzn-trace-id";

/// A new X-Ray trace header: `Root=1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>`,
/// sampled.
fn new_trace_header() -> HeaderValue {
    let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    let value = format!("Root=1-{epoch:08x}-{};Sampled=1", &random[..24]);
    HeaderValue::from_str(&value).expect("hex digits make a header value")
}
