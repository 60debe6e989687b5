//! `template.yaml`, read the way CloudFormation and SAM read it, as far as the local stack
//! needs: parameters, resources, `Globals`, and the views built from them (routes, APIs,
//! authorizers, SQS event sources, tables, queues, secrets).
//!
//! Short-form intrinsics (`!Ref X`, `!GetAtt A.B`, `!Sub s`, `!If […]`, …) are rewritten
//! to their long JSON form (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A","B"]}`, …) on load, so the
//! rest of the code sees one shape.

use std::{collections::BTreeMap, path::Path};

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pub root: Value,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let yaml: serde_norway::Value = serde_norway::from_str(text)?;
        let root = to_json(yaml)?;
        if !root.get("Resources").is_some_and(Value::is_object) {
            return Err(invalid("no Resources section"));
        }
        Ok(Self { root })
    }

    /// Resources by logical id.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root["Resources"].as_object().into_iter().flatten().map(|(k, v)| (k.as_str(), v))
    }

    /// Logical ids of resources of CloudFormation type `kind`, in template order.
    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources().filter(move |(_, r)| r["Type"] == kind)
    }

    pub fn resource(&self, id: &str) -> Option<&Value> {
        self.root["Resources"].get(id)
    }

    /// Default values of the parameters (a parameter without one maps to `None`).
    pub fn parameter_defaults(&self) -> BTreeMap<String, Option<String>> {
        let params = self.root.get("Parameters").and_then(Value::as_object);
        params.into_iter().flatten().map(|(name, p)| (name.clone(), p.get("Default").map(scalar_string))).collect()
    }

    /// A function's property, falling back to `Globals.Function` (SAM's merge for scalars and maps).
    pub fn function_property(&self, function: &Value, name: &str) -> Option<Value> {
        let global = self.root.pointer(&format!("/Globals/Function/{name}")).cloned();
        let own = function.pointer(&format!("/Properties/{name}")).cloned();
        match (global, own) {
            (Some(Value::Object(mut g)), Some(Value::Object(o))) => {
                merge(&mut g, o);
                Some(Value::Object(g))
            }
            (g, o) => o.or(g),
        }
    }

    /// The binary a function runs: `Metadata.BuildProperties.Binary` (rust-cargolambda).
    pub fn function_binary(&self, logical_id: &str) -> Result<String, TemplateError> {
        self.resource(logical_id)
            .and_then(|f| f.pointer("/Metadata/BuildProperties/Binary"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("{logical_id} has no Metadata.BuildProperties.Binary")))
    }

    /// Every `Type: Api` event of every function.
    pub fn routes(&self) -> Result<Vec<Route>, TemplateError> {
        let mut routes = Vec::new();
        for (id, function) in self.of_type("AWS::Serverless::Function") {
            for (event_name, event) in events_of(function, "Api") {
                let p = &event["Properties"];
                let path = p["Path"].as_str().ok_or_else(|| invalid(format!("{id}.{event_name}: no Path")))?;
                let method = p["Method"].as_str().ok_or_else(|| invalid(format!("{id}.{event_name}: no Method")))?;
                let api = match &p["RestApiId"] {
                    Value::Null => None,
                    v => Some(
                        ref_target(v).ok_or_else(|| invalid(format!("{id}.{event_name}: RestApiId must be !Ref")))?,
                    ),
                };
                routes.push(Route {
                    function: id.to_owned(),
                    binary: self.function_binary(id)?,
                    method: method.to_ascii_uppercase(),
                    path: path.to_owned(),
                    api,
                    authorizer: p.pointer("/Auth/Authorizer").and_then(Value::as_str).map(str::to_owned),
                });
            }
        }
        Ok(routes)
    }

    /// Every `Type: SQS` event of every function.
    pub fn sqs_event_sources(&self) -> Result<Vec<SqsEventSource>, TemplateError> {
        let mut sources = Vec::new();
        for (id, function) in self.of_type("AWS::Serverless::Function") {
            for (event_name, event) in events_of(function, "SQS") {
                let p = &event["Properties"];
                let queue = getatt_target(&p["Queue"])
                    .ok_or_else(|| invalid(format!("{id}.{event_name}: Queue must be !GetAtt <Queue>.Arn")))?;
                let report_failures = p["FunctionResponseTypes"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures"));
                sources.push(SqsEventSource {
                    function: id.to_owned(),
                    binary: self.function_binary(id)?,
                    queue,
                    batch_size: p["BatchSize"].as_u64().unwrap_or(10).clamp(1, 10_000) as usize,
                    batching_window_secs: p["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0).min(300),
                    report_batch_item_failures: report_failures,
                    enabled: p["Enabled"].as_bool().unwrap_or(true),
                });
            }
        }
        Ok(sources)
    }

    /// Every `Type: DynamoDB` event of every function. `ParallelizationFactor` other than 1
    /// is refused: the local player keeps one batch in flight per shard.
    pub fn stream_event_sources(&self) -> Result<Vec<StreamEventSource>, TemplateError> {
        let mut sources = Vec::new();
        for (id, function) in self.of_type("AWS::Serverless::Function") {
            for (event_name, event) in events_of(function, "DynamoDB") {
                let p = &event["Properties"];
                let at = |what: &str| invalid(format!("{id}.{event_name}: {what}"));
                // `!GetAtt <Table>.StreamArn`, or an `!If` whose other branch is (a restored
                // table's stream, named by a parameter).
                let stream = p["Stream"].clone();
                let table = getatt_target(&stream)
                    .or_else(|| stream.pointer("/Fn::If/2").and_then(getatt_target))
                    .ok_or_else(|| at("Stream must be !GetAtt <Table>.StreamArn, or an !If with it"))?;
                let from_trim_horizon = match p["StartingPosition"].as_str() {
                    Some("TRIM_HORIZON") => true,
                    Some("LATEST") => false,
                    _ => return Err(at("StartingPosition must be TRIM_HORIZON or LATEST")),
                };
                if p["ParallelizationFactor"].as_u64().unwrap_or(1) != 1 {
                    return Err(at("only ParallelizationFactor 1 is played locally"));
                }
                let filters = p.pointer("/FilterCriteria/Filters").and_then(Value::as_array).into_iter().flatten();
                let filters = filters
                    .map(|f| f["Pattern"].as_str().and_then(|text| serde_json::from_str(text).ok()))
                    .collect::<Option<Vec<Value>>>()
                    .ok_or_else(|| at("every FilterCriteria pattern must be a JSON string"))?;
                let on_failure = match p.pointer("/DestinationConfig/OnFailure/Destination") {
                    None => None,
                    Some(d) => Some(getatt_target(d).ok_or_else(|| at("Destination must be !GetAtt <Queue>.Arn"))?),
                };
                let minus_one_is_none = |name: &str| p[name].as_i64().filter(|n| *n >= 0);
                let window = &p["TumblingWindowInSeconds"];
                let tumbling_window_secs = match window.as_u64() {
                    _ if window.is_null() => None,
                    Some(0) => None,
                    Some(secs @ 1..=900) => Some(secs),
                    _ => return Err(at("TumblingWindowInSeconds must be a number of seconds, 0-900")),
                };
                sources.push(StreamEventSource {
                    function: id.to_owned(),
                    binary: self.function_binary(id)?,
                    table,
                    stream,
                    from_trim_horizon,
                    batch_size: p["BatchSize"].as_u64().unwrap_or(100).clamp(1, 10_000) as usize,
                    batching_window_secs: p["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0).min(300),
                    filters,
                    report_batch_item_failures: p["FunctionResponseTypes"]
                        .as_array()
                        .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures")),
                    bisect_on_error: p["BisectBatchOnFunctionError"].as_bool().unwrap_or(false),
                    max_retry_attempts: minus_one_is_none("MaximumRetryAttempts").map(|n| n.min(10_000) as u32),
                    max_record_age_secs: minus_one_is_none("MaximumRecordAgeInSeconds").map(|n| n as u64),
                    on_failure,
                    tumbling_window_secs,
                    enabled: p["Enabled"].as_bool().unwrap_or(true),
                });
            }
        }
        Ok(sources)
    }
}

/// One DynamoDB stream event-source mapping, from a function's `Type: DynamoDB` event.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEventSource {
    pub function: String,
    pub binary: String,
    /// Logical id of the stack's table whose stream it reads (`!GetAtt <Table>.StreamArn`).
    pub table: String,
    /// The `Stream` value as written, which the stack resolves (to a restored table's
    /// stream when a condition says so).
    pub stream: Value,
    /// `TRIM_HORIZON` (the oldest record kept) or `LATEST` (records written from now on).
    pub from_trim_horizon: bool,
    /// 1–10,000 (Lambda's range for DynamoDB; default 100).
    pub batch_size: usize,
    /// 0–300 (default 0).
    pub batching_window_secs: u64,
    /// `FilterCriteria.Filters[].Pattern`, parsed; a record passes if any matches (none: all pass).
    pub filters: Vec<Value>,
    pub report_batch_item_failures: bool,
    pub bisect_on_error: bool,
    /// `None`: retried until the record expires (`-1`, the default).
    pub max_retry_attempts: Option<u32>,
    /// `None`: no limit (`-1`, the default).
    pub max_record_age_secs: Option<u64>,
    /// Logical id of the on-failure queue (`DestinationConfig.OnFailure.Destination: !GetAtt <Queue>.Arn`).
    pub on_failure: Option<String>,
    /// `TumblingWindowInSeconds`, 1–900; `None` without a tumbling window (absent or 0).
    pub tumbling_window_secs: Option<u64>,
    pub enabled: bool,
}

/// One route of the REST API, from a function's `Type: Api` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: String,
    pub binary: String,
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// Path template, e.g. `/v1/polls/{id}`.
    pub path: String,
    /// Logical id of the `AWS::Serverless::Api`, `None` for SAM's implicit API.
    pub api: Option<String>,
    /// The event's `Auth.Authorizer` (a name, or `NONE`), overriding the API's default.
    pub authorizer: Option<String>,
}

/// One SQS event-source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsEventSource {
    pub function: String,
    pub binary: String,
    /// Logical id of the queue.
    pub queue: String,
    pub batch_size: usize,
    pub batching_window_secs: u64,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
}

fn events_of<'a>(function: &'a Value, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
    function
        .pointer("/Properties/Events")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(move |(_, e)| e["Type"] == kind)
        .map(|(k, v)| (k.as_str(), v))
}

/// `{"Ref": "X"}` → `X`.
pub fn ref_target(value: &Value) -> Option<String> {
    value.get("Ref").and_then(Value::as_str).map(str::to_owned)
}

/// `{"Fn::GetAtt": ["X", "Arn"]}` → `X`.
pub fn getatt_target(value: &Value) -> Option<String> {
    value.pointer("/Fn::GetAtt/0").and_then(Value::as_str).map(str::to_owned)
}

/// A YAML scalar as CloudFormation would stringify it.
pub fn scalar_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn merge(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// YAML → JSON, rewriting short-form intrinsics to their long form.
fn to_json(value: serde_norway::Value) -> Result<Value, TemplateError> {
    use serde_norway::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).map_err(|e| invalid(e.to_string()))?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(invalid(format!("unsupported mapping key {other:?}"))),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value)?;
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s
                            .split_once('.')
                            .ok_or_else(|| invalid(format!("!GetAtt {s}: expected Resource.Attribute")))?;
                        json!({"Fn::GetAtt": [resource, attribute]})
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  StageName: {Type: String, Default: prod}
  Origin: {Type: String}
Globals:
  Function:
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        QUEUE_ARN: !GetAtt Queue.Arn
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: !Ref StageName}
  Table: {Type: AWS::DynamoDB::Table}
  Queue: {Type: AWS::SQS::Queue}
  HelloFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: hello}}
    Properties:
      Environment: {Variables: {EXTRA: !Sub "${Table}-x"}}
      Events:
        Get: {Type: Api, Properties: {Path: "/v1/hello/{name}", Method: get, RestApiId: !Ref Api, Auth: {Authorizer: NONE}}}
        Work: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures]}}
"#;

    #[test]
    fn given_short_form_intrinsics_when_parsed_then_they_are_long_form() {
        let t = Template::parse(SAMPLE).unwrap();
        assert_eq!(
            t.root.pointer("/Globals/Function/Environment/Variables/TABLE_NAME").unwrap(),
            &json!({"Ref": "Table"})
        );
        assert_eq!(
            t.root.pointer("/Globals/Function/Environment/Variables/QUEUE_ARN").unwrap(),
            &json!({"Fn::GetAtt": ["Queue", "Arn"]})
        );
    }

    #[test]
    fn given_api_events_when_read_then_routes_carry_binary_method_and_auth() {
        let routes = Template::parse(SAMPLE).unwrap().routes().unwrap();
        assert_eq!(
            routes,
            [Route {
                function: "HelloFunction".into(),
                binary: "hello".into(),
                method: "GET".into(),
                path: "/v1/hello/{name}".into(),
                api: Some("Api".into()),
                authorizer: Some("NONE".into()),
            }]
        );
    }

    #[test]
    fn given_sqs_events_when_read_then_batching_and_failure_reporting_are_known() {
        let sources = Template::parse(SAMPLE).unwrap().sqs_event_sources().unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(
            (sources[0].queue.as_str(), sources[0].batch_size, sources[0].report_batch_item_failures),
            ("Queue", 5, true)
        );
    }

    #[test]
    fn given_a_dynamodb_event_when_read_then_its_stream_settings_are_known() {
        let t = Template::parse(&format!(
            "{SAMPLE}        Count: {{Type: DynamoDB, Properties: {{Stream: !GetAtt Table.StreamArn, StartingPosition: TRIM_HORIZON, \
             BatchSize: 1000, MaximumRetryAttempts: 3, MaximumRecordAgeInSeconds: -1, BisectBatchOnFunctionError: true, \
             FilterCriteria: {{Filters: [{{Pattern: '{{\"eventName\": [\"INSERT\"]}}'}}]}}, \
             DestinationConfig: {{OnFailure: {{Destination: !GetAtt Queue.Arn}}}}}}}}\n"
        ))
        .unwrap();
        let sources = t.stream_event_sources().unwrap();
        let s = &sources[0];
        assert_eq!(
            (s.table.as_str(), s.batch_size, s.from_trim_horizon, s.bisect_on_error),
            ("Table", 1000, true, true)
        );
        assert_eq!(
            (s.max_retry_attempts, s.max_record_age_secs, s.on_failure.as_deref()),
            (Some(3), None, Some("Queue"))
        );
        assert_eq!(s.filters, [json!({"eventName": ["INSERT"]})]);
    }

    #[test]
    fn given_globals_and_own_env_when_merged_then_both_apply() {
        let t = Template::parse(SAMPLE).unwrap();
        let env = t.function_property(t.resource("HelloFunction").unwrap(), "Environment").unwrap();
        let vars = env["Variables"].as_object().unwrap();
        assert!(vars.contains_key("TABLE_NAME") && vars.contains_key("EXTRA"));
    }

    #[test]
    fn given_parameters_when_read_then_defaults_are_strings() {
        let defaults = Template::parse(SAMPLE).unwrap().parameter_defaults();
        assert_eq!(defaults["StageName"].as_deref(), Some("prod"));
        assert_eq!(defaults["Origin"], None);
    }

    #[test]
    fn given_no_resources_when_parsed_then_refused() {
        assert!(Template::parse("Parameters: {}").is_err());
    }
}
