//! The web ACL in front of the stage, as AWS WAF plays it before API Gateway sees a
//! request: every rule of the template's `AWS::WAFv2::WebACL` (when its `Condition`
//! holds) whose statement is a `RateBasedStatement` keyed by `IP`, optionally scoped down
//! by a `ByteMatchStatement` on the URI path with its text transformations. Requests are
//! counted per client address in fixed windows of the rule's `EvaluationWindowSec`
//! (locally any number of seconds, so tests can wait one out); past `Limit`, the rule's
//! `CustomResponse` answers: its status, its body from `CustomResponseBodies`, its
//! headers. AWS counts over a sliding window; fixed windows block at most as long.
//! Managed rule groups (AWS's IP reputation list) need AWS's data and are not played.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use http::{HeaderName, HeaderValue, Response, StatusCode};
use serde_json::Value;

use super::GatewayError;
use crate::{stack::Stack, template::Template};

/// One per-address rate rule.
#[derive(Debug)]
struct RateRule {
    name: String,
    limit: u64,
    window_secs: u64,
    /// The URI path must match this, if set.
    path: Option<PathMatch>,
    status: StatusCode,
    content_type: String,
    body: String,
    headers: Vec<(String, String)>,
}

#[derive(Debug)]
struct PathMatch {
    search: String,
    position: String,
    url_decode: bool,
    lowercase: bool,
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        let mut path = path.to_owned();
        if self.url_decode {
            // As the router decodes paths; one it cannot decode is matched as sent.
            path = super::router::decode(&path).unwrap_or(path);
        }
        if self.lowercase {
            path = path.to_lowercase();
        }
        match self.position.as_str() {
            "EXACTLY" => path == self.search,
            "STARTS_WITH" => path.starts_with(&self.search),
            "ENDS_WITH" => path.ends_with(&self.search),
            _ => path.contains(&self.search),
        }
    }
}

/// The web ACL's rate rules and their counters: (rule, address, window start) → requests.
#[derive(Debug, Default)]
pub struct WebAcl {
    rules: Vec<RateRule>,
    counts: Mutex<HashMap<(usize, IpAddr, u64), u64>>,
}

impl WebAcl {
    /// The rules of the template's web ACLs whose condition holds on `stack`.
    pub fn from_template(template: &Template, stack: &Stack) -> Result<Self, GatewayError> {
        let mut rules = Vec::new();
        for (id, acl) in template.of_type("AWS::WAFv2::WebACL") {
            if let Some(condition) = acl["Condition"].as_str()
                && !condition_holds(template, stack, condition)?
            {
                continue;
            }
            let props = &acl["Properties"];
            for rule in props["Rules"].as_array().into_iter().flatten() {
                let statement = &rule["Statement"]["RateBasedStatement"];
                if statement.is_null() || statement["AggregateKeyType"] != "IP" {
                    continue;
                }
                let name = rule["Name"].as_str().unwrap_or(id).to_owned();
                let number = |value: &Value, default: u64| -> Result<u64, GatewayError> {
                    if value.is_null() {
                        return Ok(default);
                    }
                    let text = stack.resolve(value)?;
                    text.parse().map_err(|_| GatewayError::Config(format!("{name}: {text:?} is not a number")))
                };
                let limit = number(&statement["Limit"], 0)?;
                let window_secs = number(&statement["EvaluationWindowSec"], 300)?;
                let path = match &statement["ScopeDownStatement"]["ByteMatchStatement"] {
                    Value::Null => None,
                    byte_match => {
                        let transformations: Vec<&str> = byte_match["TextTransformations"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|t| t["Type"].as_str())
                            .collect();
                        Some(PathMatch {
                            search: stack.resolve(&byte_match["SearchString"])?,
                            position: byte_match["PositionalConstraint"].as_str().unwrap_or("CONTAINS").to_owned(),
                            url_decode: transformations.contains(&"URL_DECODE"),
                            lowercase: transformations.contains(&"LOWERCASE"),
                        })
                    }
                };
                let custom = &rule["Action"]["Block"]["CustomResponse"];
                let body_key = custom["CustomResponseBodyKey"].as_str();
                let body = body_key.map(|key| &props["CustomResponseBodies"][key]);
                let content_type = match body.and_then(|b| b["ContentType"].as_str()) {
                    Some("APPLICATION_JSON") => "application/json",
                    Some("TEXT_HTML") => "text/html",
                    _ => "text/plain",
                };
                let mut headers = Vec::new();
                for header in custom["ResponseHeaders"].as_array().into_iter().flatten() {
                    headers.push((stack.resolve(&header["Name"])?, stack.resolve(&header["Value"])?));
                }
                let code = number(&custom["ResponseCode"], 403)?;
                rules.push(RateRule {
                    status: u16::try_from(code)
                        .ok()
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .ok_or_else(|| GatewayError::Config(format!("{name}: {code} is not a status")))?,
                    content_type: content_type.to_owned(),
                    body: body.map(|b| stack.resolve(&b["Content"])).transpose()?.unwrap_or_default(),
                    name,
                    limit,
                    window_secs: window_secs.max(1),
                    path,
                    headers,
                });
            }
        }
        Ok(Self { rules, counts: Mutex::default() })
    }

    /// Counts the request from `address` to `path` against every rule it falls under;
    /// the answer of the first rule past its limit, if any (the request goes no further).
    pub fn blocked(&self, address: IpAddr, path: &str) -> Option<Response<Vec<u8>>> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut counts = self.counts.lock().expect("counters");
        // Past windows are of no use any more.
        counts.retain(|(rule, _, start), _| start + self.rules[*rule].window_secs > now);
        let mut blocked = None;
        for (n, rule) in self.rules.iter().enumerate() {
            if rule.path.as_ref().is_some_and(|p| !p.matches(path)) {
                continue;
            }
            let count = counts.entry((n, address, now - now % rule.window_secs)).or_default();
            *count += 1;
            if *count > rule.limit && blocked.is_none() {
                blocked = Some(rule);
            }
        }
        let rule = blocked?;
        tracing::info!(rule = %rule.name, %address, "blocked by the web ACL");
        let mut response = Response::new(rule.body.clone().into_bytes());
        *response.status_mut() = rule.status;
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(&rule.content_type).expect("a media type"));
        for (name, value) in &rule.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
            {
                headers.insert(name, value);
            }
        }
        Some(response)
    }
}

/// Whether the template's condition `name` holds: `Fn::Equals` of two resolvable values.
fn condition_holds(template: &Template, stack: &Stack, name: &str) -> Result<bool, GatewayError> {
    let condition = &template.root["Conditions"][name];
    match condition["Fn::Equals"].as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok(stack.resolve(a)? == stack.resolve(b)?),
        _ => Err(GatewayError::Config(format!("condition {name}: only Fn::Equals is played locally"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  EnableWaf: {Type: String, Default: "true"}
  Origin: {Type: String, Default: "https://app.example"}
Conditions:
  WafEnabled: !Equals [!Ref EnableWaf, "true"]
Resources:
  Acl:
    Type: AWS::WAFv2::WebACL
    Condition: WafEnabled
    Properties:
      CustomResponseBodies:
        throttled: {ContentType: APPLICATION_JSON, Content: '{"status":429}'}
      Rules:
        - Name: auth
          Action:
            Block:
              CustomResponse:
                ResponseCode: 429
                CustomResponseBodyKey: throttled
                ResponseHeaders:
                  - {Name: Retry-After, Value: "60"}
                  - {Name: Access-Control-Allow-Origin, Value: !Ref Origin}
          Statement:
            RateBasedStatement:
              Limit: 2
              AggregateKeyType: IP
              ScopeDownStatement:
                ByteMatchStatement:
                  FieldToMatch: {UriPath: {}}
                  PositionalConstraint: CONTAINS
                  SearchString: /v1/auth/
                  TextTransformations: [{Priority: 0, Type: URL_DECODE}, {Priority: 1, Type: LOWERCASE}]
"#;

    fn acl(overrides: &[String]) -> WebAcl {
        let template = Template::parse(TEMPLATE).unwrap();
        let stack = Stack::new(&template, "s", "us-east-1", overrides).unwrap();
        WebAcl::from_template(&template, &stack).unwrap()
    }

    #[test]
    fn given_a_rate_rule_then_spellings_of_its_path_count_together_past_the_limit_answered_as_the_template_says() {
        let acl = acl(&[]);
        let (one, other): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert!(acl.blocked(one, "/v1/auth/login").is_none());
        assert!(acl.blocked(one, "/v1/AUTH/%6cogin").is_none(), "decoded and lower-cased: the second");
        assert!(acl.blocked(one, "/v1/polls").is_none(), "outside the scope-down: not counted");
        let blocked = acl.blocked(one, "/V1/Auth/refresh").unwrap();
        assert_eq!(blocked.status(), 429);
        assert_eq!(blocked.headers()["retry-after"], "60");
        assert_eq!(blocked.headers()["access-control-allow-origin"], "https://app.example");
        assert_eq!(blocked.headers()["content-type"], "application/json");
        assert_eq!(blocked.body(), br#"{"status":429}"#);
        assert!(acl.blocked(other, "/v1/auth/login").is_none(), "per address");
    }

    #[test]
    fn given_the_condition_false_then_no_rule_is_played() {
        let acl = acl(&["EnableWaf=false".to_owned()]);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..10).all(|_| acl.blocked(one, "/v1/auth/login").is_none()));
    }
}
