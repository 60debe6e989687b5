//! Evaluating a Lambda authorizer's IAM policy against a method ARN, as API Gateway does:
//! an explicit `Deny` that matches wins, else an `Allow` that matches, else deny.
//! `Resource` and `Action` patterns use `*` (any run of characters) and `?` (one character);
//! actions compare case-insensitively, resources case-sensitively.
//!
//! Fails closed: a statement using anything else (`NotAction`, `NotResource`, `Condition`,
//! …) makes the whole policy unusable rather than being skipped, since skipping a `Deny`
//! would grant more than the authorizer meant.

use serde_json::Value;

/// The decision for one method ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// Statement keys this evaluator understands.
const KNOWN_KEYS: [&str; 4] = ["Sid", "Effect", "Action", "Resource"];

/// Decides `execute-api:Invoke` on `method_arn` under `policy` (an IAM policy document);
/// `Err` names what makes the policy unusable (API Gateway then answers 500).
pub fn evaluate(policy: &Value, method_arn: &str) -> Result<Decision, String> {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => return Err("policy has no Statement".into()),
    };
    let mut allowed = false;
    for statement in statements {
        let keys = statement.as_object().ok_or("a statement is not an object")?.keys();
        if let Some(key) = keys.into_iter().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(format!("unsupported statement key {key}"));
        }
        let applies = any_matches(&statement["Action"], "execute-api:invoke", true)
            && any_matches(&statement["Resource"], method_arn, false);
        if !applies {
            continue;
        }
        match statement["Effect"].as_str() {
            Some("Deny") => return Ok(Decision::Deny),
            Some("Allow") => allowed = true,
            other => return Err(format!("unsupported Effect {other:?}")),
        }
    }
    Ok(if allowed { Decision::Allow } else { Decision::Deny })
}

fn any_matches(patterns: &Value, subject: &str, ignore_case: bool) -> bool {
    let matches = |pattern: &str| match ignore_case {
        true => wildcard(&pattern.to_ascii_lowercase(), subject),
        false => wildcard(pattern, subject),
    };
    match patterns {
        Value::String(p) => matches(p),
        Value::Array(items) => items.iter().filter_map(Value::as_str).any(matches),
        _ => false,
    }
}

/// IAM wildcard matching, case-sensitive (callers lower-case actions first); `execute-api:*`
/// and `*` both cover `execute-api:Invoke`.
pub fn wildcard(pattern: &str, subject: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), subject.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(star_at) = star {
            pi = star_at + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/v1/polls/p-1";

    fn policy(statements: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    #[test]
    fn given_an_exact_allow_when_evaluated_then_allowed() {
        let p = policy(json!([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [ARN]}]));
        assert_eq!(evaluate(&p, ARN), Ok(Decision::Allow));
    }

    #[test]
    fn given_an_allow_for_another_route_when_evaluated_then_denied() {
        let p = policy(json!([{"Effect": "Allow", "Action": "execute-api:Invoke",
            "Resource": ["arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/v1/polls"]}]));
        assert_eq!(evaluate(&p, ARN), Ok(Decision::Deny));
    }

    #[test]
    fn given_wildcards_when_evaluated_then_they_match_like_iam() {
        let p = policy(json!({"Effect": "Allow", "Action": "Execute-API:*",
            "Resource": "arn:aws:execute-api:us-east-1:123456789012:api1/prod/*/v1/polls/*"}));
        assert_eq!(evaluate(&p, ARN), Ok(Decision::Allow));
        assert!(wildcard("a?c*", "abcdef") && !wildcard("a?c", "abcd") && wildcard("*", ""));
    }

    #[test]
    fn given_an_allow_and_a_matching_deny_when_evaluated_then_deny_wins() {
        let p = policy(json!([
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
            {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": ARN}
        ]));
        assert_eq!(evaluate(&p, ARN), Ok(Decision::Deny));
    }

    #[test]
    fn given_a_statement_without_an_action_when_evaluated_then_it_grants_nothing() {
        assert_eq!(evaluate(&policy(json!([{"Effect": "Allow", "Resource": ARN}])), ARN), Ok(Decision::Deny));
    }

    #[test]
    fn given_an_unusable_policy_when_evaluated_then_it_fails_closed() {
        assert!(evaluate(&json!({}), ARN).is_err());
        let not_resource = policy(json!([
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
            {"Effect": "Deny", "Action": "execute-api:Invoke", "NotResource": "arn:other"}
        ]));
        assert!(evaluate(&not_resource, ARN).is_err());
        assert!(evaluate(&policy(json!([{"Effect": "Maybe", "Action": "*", "Resource": "*"}])), ARN).is_err());
    }
}
