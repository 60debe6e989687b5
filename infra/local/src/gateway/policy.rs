//! Evaluating a Lambda authorizer's IAM policy against a method ARN, as API Gateway does:
//! an explicit `Deny` that matches wins, else an `Allow` that matches, else deny.
//! `Resource` and `Action` patterns use `*` (any run of characters) and `?` (one character).

use serde_json::Value;

/// The decision for one method ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// Decides `execute-api:Invoke` on `method_arn` under `policy` (an IAM policy document).
pub fn evaluate(policy: &Value, method_arn: &str) -> Decision {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => return Decision::Deny,
    };
    let mut allowed = false;
    for statement in statements {
        let applies =
            any_matches(&statement["Action"], "execute-api:Invoke") && any_matches(&statement["Resource"], method_arn);
        if !applies {
            continue;
        }
        match statement["Effect"].as_str() {
            Some(effect) if effect.eq_ignore_ascii_case("deny") => return Decision::Deny,
            Some(effect) if effect.eq_ignore_ascii_case("allow") => allowed = true,
            _ => {}
        }
    }
    if allowed { Decision::Allow } else { Decision::Deny }
}

fn any_matches(patterns: &Value, subject: &str) -> bool {
    match patterns {
        Value::String(p) => wildcard(p, subject),
        Value::Array(items) => items.iter().filter_map(Value::as_str).any(|p| wildcard(p, subject)),
        _ => false,
    }
}

/// IAM wildcard matching (case-sensitive, like resource ARNs). Actions are matched the same
/// way; `execute-api:*` and `*` both cover `execute-api:Invoke`.
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
        assert_eq!(evaluate(&p, ARN), Decision::Allow);
    }

    #[test]
    fn given_an_allow_for_another_route_when_evaluated_then_denied() {
        let p = policy(json!([{"Effect": "Allow", "Action": "execute-api:Invoke",
            "Resource": ["arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/v1/polls"]}]));
        assert_eq!(evaluate(&p, ARN), Decision::Deny);
    }

    #[test]
    fn given_wildcards_when_evaluated_then_they_match_like_iam() {
        let p = policy(json!({"Effect": "Allow", "Action": "execute-api:*",
            "Resource": "arn:aws:execute-api:us-east-1:123456789012:api1/prod/*/v1/polls/*"}));
        assert_eq!(evaluate(&p, ARN), Decision::Allow);
        assert!(wildcard("a?c*", "abcdef") && !wildcard("a?c", "abcd") && wildcard("*", ""));
    }

    #[test]
    fn given_an_allow_and_a_matching_deny_when_evaluated_then_deny_wins() {
        let p = policy(json!([
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
            {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": ARN}
        ]));
        assert_eq!(evaluate(&p, ARN), Decision::Deny);
    }

    #[test]
    fn given_a_malformed_policy_when_evaluated_then_denied() {
        assert_eq!(evaluate(&json!({}), ARN), Decision::Deny);
        assert_eq!(evaluate(&policy(json!([{"Effect": "Allow", "Resource": ARN}])), ARN), Decision::Deny);
    }
}
