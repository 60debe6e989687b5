//! Typed JSON request bodies: size limit, media type, unknown fields, then validation.
//!
//! Request types derive `Deserialize` with `#[serde(deny_unknown_fields)]` and
//! `validator::Validate`; [`json`] turns every way a body can be wrong into an
//! [`ApiError`] that names the offending field by JSON Pointer.

use lambda_http::{Body, Request};
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

/// Largest body a route accepts unless it asks for another limit.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Parses and validates the body of `req` as `T`, with the default size limit.
pub fn json<T: DeserializeOwned + Validate>(req: &Request) -> Result<T, ApiError> {
    json_with_limit(req, DEFAULT_LIMIT)
}

/// For routes whose body is optional: `None` when there is none, else as [`json`].
pub fn empty_or_json<T: DeserializeOwned + Validate>(req: &Request) -> Result<Option<T>, ApiError> {
    let empty = match req.body() {
        Body::Empty => true,
        // Only no bytes at all is no body: whitespace alone is not a JSON text (400).
        Body::Text(text) => text.is_empty(),
        Body::Binary(bytes) => bytes.is_empty(),
        _ => true,
    };
    if empty { Ok(None) } else { json(req).map(Some) }
}

/// For routes that take no fields: no body, or `{}`; anything else is refused (400).
pub fn no_fields(req: &Request) -> Result<(), ApiError> {
    /// Nothing, and nothing unknown.
    #[derive(serde::Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct NoFields {}
    empty_or_json::<NoFields>(req).map(drop)
}

/// Parses and validates the body of `req` as `T`, refusing bodies over `limit` bytes.
pub fn json_with_limit<T: DeserializeOwned + Validate>(req: &Request, limit: usize) -> Result<T, ApiError> {
    let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    parse(content_type, bytes, limit)
}

/// The checks of [`json`] on raw parts, in the order a client can fix them:
/// size, media type, presence, JSON syntax, shape (types, unknown and missing fields), rules.
pub fn parse<T: DeserializeOwned + Validate>(
    content_type: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<T, ApiError> {
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if !content_type.is_some_and(is_json_media_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Domain(ballot_core::Error::Validation(vec![FieldError::new(
            "#",
            "a JSON body is required",
        )])));
    }
    // Every body of this API is an object; serde would also read a struct from an array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        return Err(ApiError::Domain(ballot_core::Error::Validation(vec![FieldError::new(
            "#",
            "must be a JSON object",
        )])));
    }
    let value: T = deserialize(body)?;
    value.validate().map_err(|errors| ApiError::Domain(ballot_core::Error::Validation(field_errors(&errors))))?;
    Ok(value)
}

/// `application/json` or any `+json` type, parameters (charset) ignored.
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn deserialize<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(shape_error)?;
    de.end().map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// Syntax errors become `MalformedJson` with serde's position; data errors become a
/// field error at the path where they happened.
fn shape_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = err.inner();
    if !inner.is_data() {
        return ApiError::MalformedJson(inner.to_string());
    }
    let message = strip_position(&inner.to_string());
    let mut pointer = to_pointer(err.path());
    let detail = match unknown_field_name(&message) {
        Some(name) => {
            if !pointer.ends_with(&format!("/{}", escape(name))) {
                pointer = format!("{}/{}", pointer, escape(name));
            }
            format!("unknown field `{name}`")
        }
        None => readable(&message),
    };
    ApiError::Domain(ballot_core::Error::Validation(vec![FieldError::new(pointer, detail)]))
}

/// serde_json ends data errors with " at line L column C"; the pointer says where instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Serde names Rust types ("expected struct CreatePoll", "expected enum Kind"); a client
/// should read JSON words. Everything from such a phrase on is replaced.
fn readable(message: &str) -> String {
    const RUST_SHAPES: [&str; 6] = [
        "expected struct ",
        "expected tuple struct ",
        "expected unit struct ",
        "expected enum ",
        "expected struct variant ",
        "expected tuple variant ",
    ];
    match RUST_SHAPES.iter().filter_map(|shape| message.find(shape)).min() {
        Some(i) => format!("{}expected a JSON value of another shape", &message[..i]),
        None => message.to_owned(),
    }
}

fn to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::from("#");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&escape(key));
            }
            Segment::Unknown => {}
        }
    }
    pointer
}

/// RFC 6901 escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Flattens validator's nested errors into one list of JSON Pointers, in field order.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "#", &mut out);
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    let mut fields: Vec<_> = errors.errors().iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    for (field, kind) in fields {
        let path = if field == "__all__" { prefix.to_owned() } else { format!("{prefix}/{}", escape(field)) };
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(list.iter().map(|e| {
                let detail = e.message.as_ref().map(|m| m.to_string()).unwrap_or_else(|| default_message(e));
                FieldError::new(path.clone(), detail)
            })),
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{path}/{index}"), out);
                }
            }
        }
    }
}

/// A sentence for the built-in validator codes when the type gave no message.
fn default_message(error: &validator::ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (Some(min), None) => format!("length must be at least {min}"),
            (None, Some(max)) => format!("length must be at most {max}"),
            _ => "has the wrong length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be an email address".into(),
        "url" => "must be a URL".into(),
        "required" => "is required".into(),
        code => format!("is invalid ({code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, Serialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct NewPoll {
        #[validate(length(min = 1, max = 300))]
        question: String,
        #[validate(length(min = 2, max = 20), nested)]
        options: Vec<NewOption>,
    }

    #[derive(Debug, Deserialize, Serialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct NewOption {
        #[validate(length(min = 1, max = 100))]
        text: String,
    }

    const JSON: Option<&str> = Some("application/json");

    fn parse_poll(body: &str) -> Result<NewPoll, ApiError> {
        parse(JSON, body.as_bytes(), DEFAULT_LIMIT)
    }

    fn single_error(result: Result<NewPoll, ApiError>) -> FieldError {
        match result {
            Err(ApiError::Domain(ballot_core::Error::Validation(errors))) if errors.len() == 1 => errors[0].clone(),
            other => panic!("expected one field error, got {other:?}"),
        }
    }

    #[test]
    fn given_a_valid_body_when_parsed_then_the_value_is_typed() {
        let poll = parse_poll(r#"{"question":"Tea?","options":[{"text":"yes"},{"text":"no"}]}"#).unwrap();
        assert_eq!(poll.question, "Tea?");
        assert_eq!(poll.options.len(), 2);
    }

    #[test]
    fn given_a_70_kib_body_when_parsed_then_it_is_too_large_before_any_parsing() {
        let body = format!(r#"{{"question":"{}"}}"#, "x".repeat(70 * 1024));
        let err = parse_poll(&body).unwrap_err();
        assert!(matches!(err, ApiError::PayloadTooLarge { limit: DEFAULT_LIMIT }));
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn given_malformed_json_when_parsed_then_the_problem_says_where() {
        let err = parse_poll(r#"{"question": "Tea?",,}"#).unwrap_err();
        let ApiError::MalformedJson(message) = &err else { panic!("{err:?}") };
        assert!(message.contains("line 1 column"), "{message}");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn given_trailing_garbage_when_parsed_then_it_is_malformed() {
        let err = parse_poll(r#"{"question":"a","options":[]} x"#).unwrap_err();
        assert!(matches!(err, ApiError::MalformedJson(_)), "{err:?}");
    }

    #[test]
    fn given_an_unknown_top_level_field_when_parsed_then_the_field_is_named() {
        let error = single_error(parse_poll(r#"{"question":"a","options":[],"admin":true}"#));
        assert_eq!(error.pointer, "#/admin");
        assert_eq!(error.detail, "unknown field `admin`");
    }

    #[test]
    fn given_an_unknown_nested_field_when_parsed_then_the_pointer_reaches_it() {
        let error = single_error(parse_poll(r#"{"question":"a","options":[{"text":"x"},{"text":"y","votes":9}]}"#));
        assert_eq!(error.pointer, "#/options/1/votes");
    }

    #[test]
    fn given_a_wrong_type_when_parsed_then_the_field_and_expectation_are_named() {
        let error = single_error(parse_poll(r#"{"question":5,"options":[]}"#));
        assert_eq!(error.pointer, "#/question");
        assert!(error.detail.contains("expected a string"), "{}", error.detail);
        assert!(!error.detail.contains("line"), "{}", error.detail);
    }

    #[test]
    fn given_a_missing_field_when_parsed_then_it_is_named() {
        let error = single_error(parse_poll(r#"{"question":"a"}"#));
        assert!(error.detail.contains("missing field `options`"), "{}", error.detail);
    }

    #[test]
    fn given_an_array_instead_of_object_when_parsed_then_no_rust_type_leaks() {
        let error = single_error(parse_poll("[1]"));
        assert!(!error.detail.contains("NewPoll"), "{}", error.detail);
        // serde would read a struct from an array of its fields, and `{}` types from `[]`.
        for not_an_object in [r#" ["a", [{"text": "x"}, {"text": "y"}]]"#, "[]", "\"x\"", "7", "null"] {
            let error = single_error(parse_poll(not_an_object));
            assert_eq!(
                (error.pointer.as_str(), error.detail.as_str()),
                ("#", "must be a JSON object"),
                "{not_an_object}"
            );
        }
        assert!(matches!(parse_poll("[1,,]"), Err(ApiError::MalformedJson(_))), "malformed stays malformed");
        assert_eq!(
            readable("invalid type: string \"x\", expected enum Kind"),
            "invalid type: string \"x\", expected a JSON value of another shape"
        );
    }

    #[test]
    fn given_rule_violations_when_parsed_then_every_field_is_reported() {
        let err = parse_poll(r#"{"question":"","options":[{"text":"a"},{"text":""}]}"#).unwrap_err();
        let ApiError::Domain(ballot_core::Error::Validation(errors)) = err else { panic!() };
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["#/options/1/text", "#/question"]);
        assert_eq!(errors[1].detail, "length must be between 1 and 300");
    }

    #[test]
    fn given_no_or_wrong_content_type_when_parsed_then_415() {
        for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
            let err = parse::<NewPoll>(content_type, b"{}", DEFAULT_LIMIT).unwrap_err();
            assert_eq!(err.status(), 415, "{content_type:?}");
        }
        let ok = parse::<NewPoll>(
            Some("Application/JSON; charset=utf-8"),
            br#"{"question":"a","options":[{"text":"a"},{"text":"b"}]}"#,
            DEFAULT_LIMIT,
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn given_an_empty_body_when_parsed_then_the_body_is_required() {
        let error = single_error(parse_poll("  "));
        assert_eq!(error.pointer, "#");
    }

    #[test]
    fn given_an_optional_body_then_only_no_bytes_is_none_and_whitespace_is_refused() {
        let request = |body: Body| {
            let mut req = Request::new(body);
            req.headers_mut().insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
            req
        };
        for accepted in [Body::Empty, Body::Text(String::new()), Body::Text("{}".into())] {
            assert!(no_fields(&request(accepted)).is_ok());
        }
        for refused in ["\r", " ", "{\"a\":1}", "[]"] {
            assert_eq!(no_fields(&request(Body::Text(refused.into()))).unwrap_err().status(), 400, "{refused:?}");
        }
    }
}
