//! Lambda `REQUEST` authorizers as API Gateway runs them: a missing identity source is 401
//! without invoking; an `Unauthorized` error is 401; the returned policy is evaluated
//! against the method ARN (no allow → 403) and cached per identity source for
//! `ReauthorizeEvery` seconds — the cached policy is evaluated again for each method ARN,
//! so a cached decision never grants a route its policy does not list.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{Map, Value};

use super::{
    GatewayError,
    event::{Context, HttpRequest},
    policy::{Decision, evaluate},
};
use crate::{
    invoke::Invoker,
    template::{Template, getatt_target},
};

/// What the authorizer decided for one request.
#[derive(Debug)]
pub enum Verdict {
    /// Allowed; the context for `requestContext.authorizer` (with `principalId`).
    Allow(Map<String, Value>),
    Unauthorized,
    Denied,
    Failed,
}

#[derive(Debug)]
struct Cached {
    at: Instant,
    policy: Value,
    context: Map<String, Value>,
}

#[derive(Debug)]
pub struct Authorizer {
    binary: String,
    identity_headers: Vec<String>,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Authorizer {
    pub fn from_template(name: &str, spec: &Value, template: &Template) -> Result<Self, GatewayError> {
        // `!GetAtt <Function>.Arn`, or `!Ref <Function>.Alias` (the alias of a canary deploy).
        let alias =
            crate::template::ref_target(&spec["FunctionArn"]).and_then(|r| r.strip_suffix(".Alias").map(str::to_owned));
        let function = getatt_target(&spec["FunctionArn"]).or(alias).ok_or_else(|| {
            GatewayError::Config(format!(
                "authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn or !Ref <Function>.Alias"
            ))
        })?;
        let payload = spec["FunctionPayloadType"].as_str().unwrap_or("TOKEN");
        if payload != "REQUEST" {
            return Err(GatewayError::Config(format!(
                "authorizer {name}: only REQUEST authorizers are served locally"
            )));
        }
        let identity = &spec["Identity"];
        let identity_headers = identity["Headers"]
            .as_array()
            .map(|h| h.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let ttl = identity["ReauthorizeEvery"].as_u64().unwrap_or(300);
        Ok(Self {
            binary: template.function_binary(&function)?,
            identity_headers,
            ttl: Duration::from_secs(ttl),
            cache: Mutex::default(),
        })
    }

    pub async fn authorize(
        &self,
        invoker: &Invoker,
        request: &HttpRequest,
        ctx: &Context<'_>,
        method_arn: &str,
    ) -> Verdict {
        let mut identity = Vec::new();
        for header in &self.identity_headers {
            match request.header(header).filter(|v| !v.is_empty()) {
                Some(value) => identity.push(value.to_owned()),
                None => return Verdict::Unauthorized,
            }
        }
        let key = identity.join("\u{0}");
        let cached = self.ttl > Duration::ZERO && !identity.is_empty();
        if cached && let Some(verdict) = self.cached_verdict(&key, method_arn) {
            return verdict;
        }
        let result = match invoker.invoke(&self.binary, &request.authorizer_event(ctx, method_arn)).await {
            Ok(result) => result,
            Err(err) if err.error_message() == Some("Unauthorized") => return Verdict::Unauthorized,
            Err(err) => {
                tracing::error!(authorizer = %self.binary, error = %err, "authorizer failed");
                return Verdict::Failed;
            }
        };
        let Some(principal) = result["principalId"].as_str().filter(|p| !p.is_empty()) else {
            tracing::error!(authorizer = %self.binary, "authorizer returned no principalId");
            return Verdict::Failed;
        };
        let mut context = result["context"].as_object().cloned().unwrap_or_default();
        // API Gateway accepts only string, number and boolean context values.
        if let Some((key, _)) = context.iter().find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean())) {
            tracing::error!(authorizer = %self.binary, %key, "authorizer context values must be strings, numbers or booleans");
            return Verdict::Failed;
        }
        context.insert("principalId".into(), Value::String(principal.to_owned()));
        let policy = result["policyDocument"].clone();
        let verdict = decide(&policy, method_arn, &context);
        if cached {
            self.cache.lock().expect("cache lock").insert(key, Cached { at: Instant::now(), policy, context });
        }
        verdict
    }

    fn cached_verdict(&self, key: &str, method_arn: &str) -> Option<Verdict> {
        let cache = self.cache.lock().expect("cache lock");
        let entry = cache.get(key).filter(|c| c.at.elapsed() < self.ttl)?;
        Some(decide(&entry.policy, method_arn, &entry.context))
    }
}

fn decide(policy: &Value, method_arn: &str, context: &Map<String, Value>) -> Verdict {
    match evaluate(policy, method_arn) {
        Ok(Decision::Allow) => Verdict::Allow(context.clone()),
        Ok(Decision::Deny) => Verdict::Denied,
        Err(reason) => {
            tracing::error!(%reason, "authorizer returned an unusable policy");
            Verdict::Failed
        }
    }
}
