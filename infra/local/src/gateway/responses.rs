//! API Gateway's own responses (unknown route, throttled, unauthorized, …), rendered from
//! the API's `GatewayResponses` in the template exactly as API Gateway would: the type's
//! entry, else `DEFAULT_4XX`/`DEFAULT_5XX`, else API Gateway's built-in `{"message": …}`.

use std::collections::HashMap;

use http::{HeaderName, HeaderValue, Response, StatusCode};
use serde_json::Value;

use crate::stack::Stack;

/// The gateway response types the local gateway produces, with API Gateway's default status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MissingAuthenticationToken,
    Throttled,
    Unauthorized,
    AccessDenied,
    RequestTooLarge,
    AuthorizerFailure,
    IntegrationFailure,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            Self::Throttled => "THROTTLED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::RequestTooLarge => "REQUEST_TOO_LARGE",
            Self::AuthorizerFailure => "AUTHORIZER_FAILURE",
            Self::IntegrationFailure => "INTEGRATION_FAILURE",
        }
    }

    fn default_status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken | Self::AccessDenied => 403,
            Self::Throttled => 429,
            Self::Unauthorized => 401,
            Self::RequestTooLarge => 413,
            Self::AuthorizerFailure => 500,
            Self::IntegrationFailure => 502,
        }
    }

    fn default_message(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "Missing Authentication Token",
            Self::Throttled => "Too Many Requests",
            Self::Unauthorized => "Unauthorized",
            Self::AccessDenied => "User is not authorized to access this resource",
            Self::RequestTooLarge => "Request Too Long",
            Self::AuthorizerFailure => "Internal server error",
            Self::IntegrationFailure => "Internal server error",
        }
    }
}

/// One configured gateway response, with header values already resolved and unquoted.
#[derive(Debug, Clone, Default)]
struct Entry {
    status: Option<u16>,
    headers: Vec<(String, String)>,
    template: Option<String>,
}

/// The `GatewayResponses` of one API.
#[derive(Debug, Clone, Default)]
pub struct GatewayResponses {
    entries: HashMap<String, Entry>,
}

impl GatewayResponses {
    pub fn from_template(value: &Value, stack: &Stack) -> Result<Self, crate::stack::ResolveError> {
        let mut entries = HashMap::new();
        for (name, entry) in value.as_object().into_iter().flatten() {
            let mut headers = Vec::new();
            for (header, v) in
                entry.pointer("/ResponseParameters/Headers").and_then(Value::as_object).into_iter().flatten()
            {
                let raw = stack.resolve(v)?;
                // API Gateway header values are static strings wrapped in single quotes.
                let unquoted = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).unwrap_or(&raw);
                headers.push((header.clone(), unquoted.to_owned()));
            }
            let status = entry
                .get("StatusCode")
                .and_then(|s| s.as_str().map(str::to_owned).or(s.as_u64().map(|n| n.to_string())));
            entries.insert(
                name.clone(),
                Entry {
                    status: status.and_then(|s| s.parse().ok()),
                    headers,
                    template: entry
                        .pointer("/ResponseTemplates/application~1json")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                },
            );
        }
        Ok(Self { entries })
    }

    /// The response API Gateway would send for `kind`.
    pub fn render(&self, kind: Kind, request_id: &str) -> Response<Vec<u8>> {
        let fallback = if kind.default_status() >= 500 { "DEFAULT_5XX" } else { "DEFAULT_4XX" };
        let own = self.entries.get(kind.name());
        let default = self.entries.get(fallback);
        let status = own.and_then(|e| e.status).or(default.and_then(|e| e.status)).unwrap_or(kind.default_status());
        // A type with no entry of its own takes the DEFAULT entry's headers and template.
        let entry = own.or(default).cloned().unwrap_or_default();
        let body = match &entry.template {
            Some(template) => template
                .replace("$context.requestId", request_id)
                .replace("$context.error.responseType", kind.name())
                .replace("$context.error.messageString", &format!("\"{}\"", kind.default_message()))
                .replace("$context.error.message", kind.default_message()),
            None => serde_json::json!({"message": kind.default_message()}).to_string(),
        };
        let mut response = Response::new(body.into_bytes());
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &entry.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
            {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    /// A local-only 405 for a known path with another method. API Gateway itself answers
    /// that like an unknown route (`MISSING_AUTHENTICATION_TOKEN`); locally the method is
    /// named, with `Allow`, in the headers of the not-found response.
    pub fn method_not_allowed(&self, allowed: &[String], request_id: &str) -> Response<Vec<u8>> {
        let mut response = self.render(Kind::MissingAuthenticationToken, request_id);
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        let problem = serde_json::json!({
            "type": "urn:ballot:problem:method-not-allowed",
            "title": "Method Not Allowed",
            "status": 405,
            "detail": format!("This resource supports {}.", allowed.join(", ")),
            "request_id": request_id,
        });
        *response.body_mut() = problem.to_string().into_bytes();
        if let Ok(allow) = HeaderValue::try_from(allowed.join(", ")) {
            response.headers_mut().insert(http::header::ALLOW, allow);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;
    use serde_json::json;

    fn responses() -> GatewayResponses {
        let template =
            Template::parse("Parameters: {Origin: {Type: String, Default: 'https://a.example'}}\nResources: {}")
                .unwrap();
        let stack = Stack::new(&template, "t", "us-east-1", &[]).unwrap();
        let config = json!({
            "THROTTLED": {"StatusCode": "429", "ResponseParameters": {"Headers": {"Retry-After": "'1'", "Content-Type": "'application/problem+json'",
                "Access-Control-Allow-Origin": {"Fn::Sub": "'${Origin}'"}}},
                "ResponseTemplates": {"application/json": "{\"request_id\":\"$context.requestId\"}"}},
            "DEFAULT_4XX": {"StatusCode": "400", "ResponseParameters": {"Headers": {"X-Default": "'yes'"}}}
        });
        GatewayResponses::from_template(&config, &stack).unwrap()
    }

    #[test]
    fn given_a_configured_type_when_rendered_then_status_headers_and_template_apply() {
        let response = responses().render(Kind::Throttled, "req-7");
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(response.headers()["access-control-allow-origin"], "https://a.example");
        assert_eq!(response.body(), br#"{"request_id":"req-7"}"#);
    }

    #[test]
    fn given_an_unconfigured_4xx_when_rendered_then_default_4xx_applies() {
        let response = responses().render(Kind::Unauthorized, "r");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["x-default"], "yes");
        assert_eq!(response.body(), br#"{"message":"Unauthorized"}"#);
    }

    #[test]
    fn given_nothing_configured_when_rendered_then_api_gateway_defaults() {
        let response = GatewayResponses::default().render(Kind::MissingAuthenticationToken, "r");
        assert_eq!(response.status(), 403);
        assert_eq!(response.body(), br#"{"message":"Missing Authentication Token"}"#);
    }
}
