//! One deployed copy of the template on the local AWS endpoint: the physical name of each
//! resource, what `!Ref`/`!GetAtt` of it return there, and the resolution of intrinsic
//! functions in the values the local tools need (function environment, CORS origin).
//!
//! Names are `<stack>-<LogicalId>`, so several stacks (e.g. parallel tests) can share one
//! moto server without seeing each other's resources.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::template::{Template, scalar_string};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("parameter {0} has no value: give it with --parameter-overrides {0}=…")]
    MissingParameter(String),
    #[error("{0} is not a known resource, parameter or pseudo parameter")]
    UnknownRef(String),
    #[error("{resource}.{attribute} is not known locally")]
    UnknownAttribute { resource: String, attribute: String },
    #[error("unsupported value for local resolution: {0}")]
    Unsupported(String),
}

/// What a resource is called on the local endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Physical {
    /// What `!Ref` returns (table name, queue URL, secret ARN, …).
    pub reference: String,
    /// What `!GetAtt` returns, by attribute name.
    pub attributes: BTreeMap<String, String>,
}

/// The stack: names, parameter values and the physical resources once they exist.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub region: String,
    pub parameters: BTreeMap<String, Option<String>>,
    pub physical: HashMap<String, Physical>,
    /// The template's `Conditions`, decided on these parameters when a value asks.
    pub conditions: serde_json::Map<String, Value>,
    /// Each function's binary, by logical id: what `cargo lambda watch` serves it as, so
    /// locally `!Ref F`, `!Ref F.Version` and `!Ref F.Alias` all name it.
    pub functions: HashMap<String, String>,
}

impl Stack {
    /// `overrides` are `Key=Value` pairs, as `sam deploy --parameter-overrides` takes them.
    pub fn new(template: &Template, name: &str, region: &str, overrides: &[String]) -> Result<Self, ResolveError> {
        let mut parameters = template.parameter_defaults();
        for pair in overrides {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| ResolveError::Unsupported(format!("override {pair:?} is not Key=Value")))?;
            if !parameters.contains_key(key) {
                return Err(ResolveError::UnknownRef(key.to_owned()));
            }
            parameters.insert(key.to_owned(), Some(value.to_owned()));
        }
        let conditions = template.root.get("Conditions").and_then(Value::as_object).cloned().unwrap_or_default();
        let functions = template
            .of_type("AWS::Serverless::Function")
            .filter_map(|(id, _)| Some((id.to_owned(), template.function_binary(id).ok()?)))
            .collect();
        Ok(Self {
            name: name.to_owned(),
            region: region.to_owned(),
            parameters,
            physical: HashMap::new(),
            conditions,
            functions,
        })
    }

    /// The physical name given to resource `logical_id` (FIFO queues keep their suffix).
    pub fn physical_name(&self, logical_id: &str, fifo: bool) -> String {
        format!("{}-{}{}", self.name, logical_id, if fifo { ".fifo" } else { "" })
    }

    /// Resolves a template value to the string CloudFormation would produce here.
    pub fn resolve(&self, value: &Value) -> Result<String, ResolveError> {
        match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(scalar_string(value)),
            Value::Object(map) if map.len() == 1 => {
                let (function, arg) = map.iter().next().expect("one entry");
                match (function.as_str(), arg) {
                    ("Ref", Value::String(name)) => self.reference(name),
                    ("Fn::GetAtt", Value::Array(parts)) => match parts.as_slice() {
                        [Value::String(resource), Value::String(attribute)] => self.attribute(resource, attribute),
                        _ => Err(ResolveError::Unsupported(value.to_string())),
                    },
                    ("Fn::Sub", Value::String(text)) => self.substitute(text, &BTreeMap::new()),
                    ("Fn::Sub", Value::Array(parts)) => match parts.as_slice() {
                        [Value::String(text), Value::Object(vars)] => {
                            let vars =
                                vars.iter()
                                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                                    .collect::<Result<_, ResolveError>>()?;
                            self.substitute(text, &vars)
                        }
                        _ => Err(ResolveError::Unsupported(value.to_string())),
                    },
                    ("Fn::If", Value::Array(parts)) => match parts.as_slice() {
                        [Value::String(condition), when_true, when_false] => {
                            self.resolve(if self.condition(condition)? { when_true } else { when_false })
                        }
                        _ => Err(ResolveError::Unsupported(value.to_string())),
                    },
                    ("Fn::Select", Value::Array(parts)) => match parts.as_slice() {
                        [index, Value::Object(list)] if list.contains_key("Fn::Split") => {
                            let index: usize = self
                                .resolve(index)?
                                .parse()
                                .map_err(|_| ResolveError::Unsupported(value.to_string()))?;
                            let items = self.split(&list["Fn::Split"])?;
                            items.get(index).cloned().ok_or_else(|| ResolveError::Unsupported(value.to_string()))
                        }
                        _ => Err(ResolveError::Unsupported(value.to_string())),
                    },
                    ("Fn::Join", Value::Array(parts)) => match parts.as_slice() {
                        [Value::String(separator), Value::Array(items)] => {
                            let items: Vec<String> = items.iter().map(|v| self.resolve(v)).collect::<Result<_, _>>()?;
                            Ok(items.join(separator))
                        }
                        _ => Err(ResolveError::Unsupported(value.to_string())),
                    },
                    _ => Err(ResolveError::Unsupported(value.to_string())),
                }
            }
            other => Err(ResolveError::Unsupported(other.to_string())),
        }
    }

    /// Whether the template's condition `name` holds: `Fn::Equals`, `Fn::Not`, `Fn::And`,
    /// `Fn::Or` and `Condition` of resolvable values.
    pub fn condition(&self, name: &str) -> Result<bool, ResolveError> {
        let rule = self.conditions.get(name).ok_or_else(|| ResolveError::UnknownRef(format!("condition {name}")))?;
        self.holds(rule)
    }

    fn holds(&self, rule: &Value) -> Result<bool, ResolveError> {
        let unsupported = || ResolveError::Unsupported(rule.to_string());
        let Some((function, arg)) = rule.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
            return Err(unsupported());
        };
        let args = || arg.as_array().ok_or_else(unsupported);
        match function.as_str() {
            "Fn::Equals" => match args()?.as_slice() {
                [a, b] => Ok(self.resolve(a)? == self.resolve(b)?),
                _ => Err(unsupported()),
            },
            "Fn::Not" => match args()?.as_slice() {
                [inner] => Ok(!self.holds(inner)?),
                _ => Err(unsupported()),
            },
            "Fn::And" => args()?.iter().try_fold(true, |all, c| Ok(all && self.holds(c)?)),
            "Fn::Or" => args()?.iter().try_fold(false, |any, c| Ok(any || self.holds(c)?)),
            "Condition" => self.condition(arg.as_str().ok_or_else(unsupported)?),
            _ => Err(unsupported()),
        }
    }

    /// `Fn::Split`'s `[separator, value]`, resolved.
    fn split(&self, arg: &Value) -> Result<Vec<String>, ResolveError> {
        match arg.as_array().map(Vec::as_slice) {
            Some([Value::String(separator), text]) => {
                Ok(self.resolve(text)?.split(separator.as_str()).map(str::to_owned).collect())
            }
            _ => Err(ResolveError::Unsupported(arg.to_string())),
        }
    }

    fn reference(&self, name: &str) -> Result<String, ResolveError> {
        if let Some(value) = self.parameters.get(name) {
            return value.clone().ok_or_else(|| ResolveError::MissingParameter(name.to_owned()));
        }
        match name {
            "AWS::Region" => return Ok(self.region.clone()),
            "AWS::AccountId" => return Ok(crate::LOCAL_ACCOUNT_ID.to_owned()),
            "AWS::StackName" => return Ok(self.name.clone()),
            "AWS::Partition" => return Ok("aws".to_owned()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            _ => {}
        }
        let function = name.strip_suffix(".Version").or_else(|| name.strip_suffix(".Alias")).unwrap_or(name);
        if let Some(binary) = self.functions.get(function) {
            return Ok(binary.clone());
        }
        self.physical.get(name).map(|p| p.reference.clone()).ok_or_else(|| ResolveError::UnknownRef(name.to_owned()))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, ResolveError> {
        self.physical.get(resource).and_then(|p| p.attributes.get(attribute).cloned()).ok_or_else(|| {
            ResolveError::UnknownAttribute { resource: resource.to_owned(), attribute: attribute.to_owned() }
        })
    }

    /// `Fn::Sub`: `${Name}`, `${Resource.Attribute}`, and `${!Literal}` for a literal `${Literal}`.
    fn substitute(&self, text: &str, vars: &BTreeMap<String, String>) -> Result<String, ResolveError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| ResolveError::Unsupported(format!("unclosed ${{ in {text:?}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(value) = vars.get(name) {
                out.push_str(value);
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(resource, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Every function's environment, resolved (`Globals.Function` merged with its own).
    /// The functions share one `cargo lambda watch` process, so a name set to different
    /// values by two functions is refused rather than silently picking one.
    pub fn function_environment(&self, template: &Template) -> Result<BTreeMap<String, String>, ResolveError> {
        let mut env: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (id, function) in template.of_type("AWS::Serverless::Function") {
            let vars = template.function_property(function, "Environment");
            let vars = vars.as_ref().and_then(|e| e.get("Variables")).and_then(Value::as_object);
            for (name, value) in vars.into_iter().flatten() {
                let value = self.resolve(value)?;
                match env.get(name) {
                    Some((other, previous)) if *previous != value => {
                        return Err(ResolveError::Unsupported(format!("{name} differs between {other} and {id}")));
                    }
                    _ => {
                        env.insert(name.clone(), (id.to_owned(), value));
                    }
                }
            }
        }
        Ok(env.into_iter().map(|(k, (_, v))| (k, v)).collect())
    }
}

/// One `KEY=value` line of an env file (the dotenv format `cargo lambda watch` reads):
/// plain when the value is simple, else single-quoted (literal), else double-quoted.
pub fn env_line(key: &str, value: &str) -> String {
    let simple = value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/@,+".contains(c));
    if simple {
        format!("{key}={value}\n")
    } else if !value.contains('\'') && !value.contains('\n') {
        format!("{key}='{value}'\n")
    } else {
        format!("{key}=\"{}\"\n", value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_conditions_then_if_and_select_of_split_resolve_as_cloudformation_does() {
        let template = Template::parse(
            "Parameters: {Restored: {Type: String, Default: ''}}\nConditions: {Uses: {Fn::Not: [{Fn::Equals: [{Ref: Restored}, '']}]}}\nResources: {}",
        )
        .unwrap();
        let value = json!({"Fn::If": ["Uses", {"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "Restored"}]}]}, "own"]});
        let own = Stack::new(&template, "t", "us-east-1", &[]).unwrap();
        assert!(!own.condition("Uses").unwrap());
        assert_eq!(own.resolve(&value).unwrap(), "own");
        let restored =
            Stack::new(&template, "t", "us-east-1", &["Restored=arn:aws:dynamodb:r:1:table/copy".into()]).unwrap();
        assert_eq!(restored.resolve(&value).unwrap(), "copy");
    }

    fn stack() -> Stack {
        let template = Template::parse("Parameters: {Origin: {Type: String, Default: 'https://a.example'}, Empty: {Type: String}}\nResources: {Q: {Type: AWS::SQS::Queue}}").unwrap();
        let mut stack = Stack::new(&template, "t1", "us-east-1", &["Empty=x".into()]).unwrap();
        stack.physical.insert(
            "Q".into(),
            Physical {
                reference: "http://q/t1-Q".into(),
                attributes: BTreeMap::from([("Arn".into(), "arn:aws:sqs:us-east-1:0:t1-Q".into())]),
            },
        );
        stack
    }

    #[test]
    fn given_refs_and_getatts_when_resolved_then_local_values() {
        let s = stack();
        assert_eq!(s.resolve(&json!({"Ref": "Q"})).unwrap(), "http://q/t1-Q");
        assert_eq!(s.resolve(&json!({"Fn::GetAtt": ["Q", "Arn"]})).unwrap(), "arn:aws:sqs:us-east-1:0:t1-Q");
        assert_eq!(s.resolve(&json!({"Ref": "Origin"})).unwrap(), "https://a.example");
        assert_eq!(s.resolve(&json!({"Ref": "Empty"})).unwrap(), "x");
    }

    #[test]
    fn given_a_sub_when_resolved_then_names_attributes_and_literals_are_replaced() {
        let s = stack();
        let value = json!({"Fn::Sub": "'${Origin}' ${Q.Arn} ${AWS::Region} ${!Keep}"});
        assert_eq!(s.resolve(&value).unwrap(), "'https://a.example' arn:aws:sqs:us-east-1:0:t1-Q us-east-1 ${Keep}");
    }

    #[test]
    fn given_values_when_written_as_env_lines_then_json_is_quoted() {
        assert_eq!(env_line("A", "http://127.0.0.1:4566"), "A=http://127.0.0.1:4566\n");
        assert_eq!(env_line("B", r#"[{"a":"b c"}]"#), "B='[{\"a\":\"b c\"}]'\n");
        assert_eq!(env_line("C", "it's"), "C=\"it's\"\n");
        assert_eq!(env_line("D", ""), "D=\n");
    }

    #[test]
    fn given_an_unknown_ref_when_resolved_then_it_is_named() {
        assert!(matches!(stack().resolve(&json!({"Ref": "Nope"})), Err(ResolveError::UnknownRef(n)) if n == "Nope"));
    }

    #[test]
    fn given_an_override_for_no_parameter_when_built_then_refused() {
        let template = Template::parse("Resources: {}").unwrap();
        assert!(Stack::new(&template, "t", "us-east-1", &["Nope=1".into()]).is_err());
    }
}
