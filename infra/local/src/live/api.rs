//! The WebSocket API of `template.yaml`: the `AWS::ApiGatewayV2::Api` with `ProtocolType:
//! WEBSOCKET`, its routes (`AWS::ApiGatewayV2::Route` → `Integration` → function), which
//! of them answer the client (a `RouteResponseSelectionExpression`), and its stage.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    stack::Stack,
    template::{Template, TemplateError, ref_target},
};

/// One route: its key (`$connect`, `$disconnect`, `$default` or a value of the selection
/// field), the function it invokes, and whether the function's answer goes to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRoute {
    pub key: String,
    pub binary: String,
    pub responds: bool,
}

/// The WebSocket API, as the local gateway serves it.
#[derive(Debug, Clone)]
pub struct LiveApi {
    pub id: String,
    /// The body field routes are selected on (`$request.body.<field>`).
    pub selection_field: String,
    pub stage: String,
    /// Messages per second and burst of the stage's `DefaultRouteSettings` (`None`: none).
    pub throttle: Option<(f64, u64)>,
    pub routes: BTreeMap<String, LiveRoute>,
}

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

/// `${Name}` or `${Name.Attribute}` in a `Fn::Sub` string, the first one after `prefix`.
fn sub_target<'a>(value: &'a Value, prefix: &str) -> Option<&'a str> {
    let text = value.get("Fn::Sub").and_then(Value::as_str)?;
    let after = &text[text.find(prefix)? + prefix.len()..];
    let name = after.strip_prefix("${")?.split('}').next()?;
    Some(name.split('.').next().unwrap_or(name))
}

impl LiveApi {
    /// The template's WebSocket API, if it has one (more than one is refused).
    pub fn from_template(template: &Template, stack: &Stack) -> Result<Option<Self>, TemplateError> {
        let apis: Vec<(&str, &Value)> = template
            .of_type("AWS::ApiGatewayV2::Api")
            .filter(|(_, api)| api.pointer("/Properties/ProtocolType").and_then(Value::as_str) == Some("WEBSOCKET"))
            .collect();
        let [(id, api)] = apis.as_slice() else {
            return match apis.len() {
                0 => Ok(None),
                _ => Err(invalid("only one WebSocket API is served locally")),
            };
        };
        let expression = api.pointer("/Properties/RouteSelectionExpression").and_then(Value::as_str).unwrap_or("");
        let selection_field = expression
            .strip_prefix("$request.body.")
            .filter(|f| !f.is_empty() && !f.contains('.'))
            .ok_or_else(|| invalid(format!("{id}: RouteSelectionExpression must be $request.body.<field>")))?
            .to_owned();
        let of_api = |resource: &Value| ref_target(&resource["Properties"]["ApiId"]).as_deref() == Some(*id);
        let mut routes = BTreeMap::new();
        for (route_id, route) in template.of_type("AWS::ApiGatewayV2::Route").filter(|(_, r)| of_api(r)) {
            let p = &route["Properties"];
            let key = p["RouteKey"].as_str().ok_or_else(|| invalid(format!("{route_id}: no RouteKey")))?;
            let integration = sub_target(&p["Target"], "integrations/")
                .ok_or_else(|| invalid(format!("{route_id}: Target must be !Sub integrations/${{<Integration>}}")))?;
            let uri = template.resource(integration).map(|i| &i["Properties"]["IntegrationUri"]);
            let function = uri
                .and_then(|uri| sub_target(uri, "/functions/"))
                .ok_or_else(|| invalid(format!("{integration}: IntegrationUri must name ${{<Function>.Arn}}")))?;
            let responds = p["RouteResponseSelectionExpression"].is_string();
            let binary = template.function_binary(function)?;
            routes.insert(key.to_owned(), LiveRoute { key: key.to_owned(), binary, responds });
        }
        let stage = template
            .of_type("AWS::ApiGatewayV2::Stage")
            .find(|(_, s)| of_api(s))
            .ok_or_else(|| invalid(format!("{id}: no AWS::ApiGatewayV2::Stage")))?
            .1;
        let name = stack.resolve(&stage["Properties"]["StageName"]).map_err(|e| invalid(e.to_string()))?;
        let settings = &stage["Properties"]["DefaultRouteSettings"];
        let throttle = match (settings["ThrottlingRateLimit"].as_f64(), settings["ThrottlingBurstLimit"].as_u64()) {
            (Some(rate), Some(burst)) => Some((rate, burst)),
            _ => None,
        };
        Ok(Some(Self { id: (*id).to_owned(), selection_field, stage: name, throttle, routes }))
    }

    /// The route a message body selects: the route named by its selection field, else
    /// `$default` (`None`: the API has neither).
    pub fn select(&self, body: &str) -> Option<&LiveRoute> {
        let value: Option<Value> = serde_json::from_str(body).ok();
        let key = value.as_ref().and_then(|v| v.get(&self.selection_field)).and_then(Value::as_str);
        key.filter(|k| !k.starts_with('$')).and_then(|k| self.routes.get(k)).or_else(|| self.routes.get("$default"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters: {StageName: {Type: String, Default: prod}}
Resources:
  Live: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}}
  Rest: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: HTTP}}
  PingRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Live, RouteKey: ping, RouteResponseSelectionExpression: $default, Target: !Sub "integrations/${PingIntegration}"}
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Live, RouteKey: $connect, Target: !Sub "integrations/${ConnectIntegration}"}
  PingIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Live, IntegrationType: AWS_PROXY, IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${PingFunction.Arn}/invocations"}
  ConnectIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Live, IntegrationType: AWS_PROXY, IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${ConnectFunction.Arn}/invocations"}
  PingFunction: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: live-ping}}}
  ConnectFunction: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: live-connect}}}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Live, StageName: !Ref StageName, DefaultRouteSettings: {ThrottlingRateLimit: 100, ThrottlingBurstLimit: 50}}
"#;

    #[test]
    fn given_a_websocket_api_then_its_routes_functions_responses_and_stage_are_read() {
        let template = Template::parse(TEMPLATE).unwrap();
        let stack = Stack::new(&template, "ballot", "us-east-1", &[]).unwrap();
        let api = LiveApi::from_template(&template, &stack).unwrap().unwrap();
        assert_eq!((api.id.as_str(), api.selection_field.as_str(), api.stage.as_str()), ("Live", "action", "prod"));
        assert_eq!(api.throttle, Some((100.0, 50)));
        let ping = LiveRoute { key: "ping".into(), binary: "live-ping".into(), responds: true };
        assert_eq!(api.routes["ping"], ping);
        assert!(!api.routes["$connect"].responds);
        assert_eq!(api.select(r#"{"action":"ping"}"#), Some(&ping));
        assert_eq!(api.select(r#"{"action":"shout"}"#), None, "no $default route");
        assert_eq!(api.select(r#"{"action":"$connect"}"#), None, "a message never selects $connect");
    }
}
