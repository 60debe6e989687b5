//! Lambda's event filtering (`FilterCriteria.Filters[].Pattern`) over a stream record as
//! the function would receive it (`eventName`, `dynamodb.Keys`, `dynamodb.NewImage`, …,
//! with DynamoDB-JSON type keys such as `{"S": …}`), as far as ballot needs it.
//!
//! A pattern is an object: an object value descends into the record's field of that name;
//! an array value lists the matchers the field must satisfy (any one): a literal (string,
//! number, bool, null), `{"prefix": s}`, `{"exists": bool}` or `{"anything-but": v | [v…]}`.
//! A record passes a pattern when every field of the pattern matches; it passes the
//! filters when any pattern does. An unknown matcher never matches, so a pattern the
//! player does not understand filters records out rather than letting them through.

use serde_json::Value;

/// Whether `record` passes `filters` (no filters: every record passes).
pub fn passes(filters: &[Value], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|pattern| matches(pattern, Some(record)))
}

fn matches(pattern: &Value, value: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(name, inner)| match inner {
            Value::Array(matchers) => field_matches(matchers, value.and_then(|v| v.get(name))),
            nested => matches(nested, value.and_then(|v| v.get(name)).filter(|v| v.is_object())),
        }),
        _ => false,
    }
}

/// A field matches if any matcher accepts it (an array field: if any element is accepted).
fn field_matches(matchers: &[Value], field: Option<&Value>) -> bool {
    matchers.iter().any(|matcher| match (matcher, field) {
        (Value::Object(m), _) if m.contains_key("exists") => m["exists"].as_bool() == Some(field.is_some()),
        (_, None) => false,
        (_, Some(Value::Array(items))) => items.iter().any(|item| accepts(matcher, item)),
        (_, Some(value)) => accepts(matcher, value),
    })
}

fn accepts(matcher: &Value, value: &Value) -> bool {
    match matcher {
        Value::Object(m) => match m.iter().next() {
            Some((op, arg)) if m.len() == 1 && op == "prefix" => {
                arg.as_str().is_some_and(|p| value.as_str().is_some_and(|v| v.starts_with(p)))
            }
            Some((op, arg)) if m.len() == 1 && op == "anything-but" => match arg {
                Value::Array(excluded) => !excluded.contains(value),
                single => single != value,
            },
            _ => false,
        },
        literal => literal == value,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(event: &str, pk: &str, kind: Option<&str>) -> Value {
        let mut image = json!({"pk": {"S": pk}});
        if let Some(kind) = kind {
            image["kind"] = json!({"S": kind});
        }
        json!({"eventName": event, "dynamodb": {"Keys": {"pk": {"S": pk}}, "NewImage": image}})
    }

    #[test]
    fn given_a_key_prefix_and_an_event_name_when_filtered_then_both_must_match() {
        let filters = [json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "BALLOT#"}]}}}})];
        assert!(passes(&filters, &record("INSERT", "BALLOT#1", None)));
        assert!(!passes(&filters, &record("MODIFY", "BALLOT#1", None)));
        assert!(!passes(&filters, &record("INSERT", "POLL#1", None)));
    }

    #[test]
    fn given_exists_and_anything_but_when_filtered_then_absent_and_excluded_values_fail() {
        let filters = [
            json!({"dynamodb": {"NewImage": {"kind": {"S": [{"anything-but": ["tally", "stat"]}]}}}}),
            json!({"dynamodb": {"NewImage": {"kind": [{"exists": false}]}}}),
        ];
        assert!(passes(&filters, &record("INSERT", "a", Some("ballot"))));
        assert!(!passes(&filters, &record("INSERT", "a", Some("tally"))));
        assert!(passes(&filters, &record("INSERT", "a", None)), "the second filter: no kind at all");
        let exists = [json!({"dynamodb": {"NewImage": {"kind": [{"exists": true}]}}})];
        assert!(!passes(&exists, &record("REMOVE", "a", None)));
    }

    #[test]
    fn given_no_filters_or_an_unknown_matcher_when_filtered_then_all_pass_or_none() {
        assert!(passes(&[], &record("INSERT", "a", None)));
        assert!(!passes(&[json!({"eventName": [{"numeric": [">", 0]}]})], &record("INSERT", "a", None)));
        assert!(passes(&[json!({"eventName": ["REMOVE", "INSERT"]})], &record("INSERT", "a", None)));
    }
}
