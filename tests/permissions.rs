//! Least privilege, checked where it is written: every function's policy in
//! `template.yaml`, statement by statement, must be exactly its allowlist in
//! `infra/permissions.yaml` — an action, a resource or a key condition that widens a
//! policy fails here, since moto does not enforce IAM and the local stack cannot notice.

use std::collections::{BTreeMap, BTreeSet};

use ballot_tests::template;
use serde_json::Value;

/// A resource as written: `Table` for `!GetAtt Table.Arn` or `!Ref Table`, a `!Sub`'s text
/// (its variables written back in, `${Table.Arn}`). The table's `!If [UsesRestoredTable,
/// <restored>, <own>]` is its own table's (tests/template_rules.rs checks the other branch).
fn resource(value: &Value) -> String {
    if let Some([condition, _, own]) = value["Fn::If"].as_array().map(Vec::as_slice) {
        assert_eq!(condition, "UsesRestoredTable", "an unexpected condition on a resource: {value}");
        return resource(own);
    }
    if let Some([text, Value::Object(vars)]) = value["Fn::Sub"].as_array().map(Vec::as_slice) {
        let mut text = text.as_str().unwrap_or_default().to_owned();
        for (name, var) in vars {
            let var = var.pointer("/Fn::If/2").unwrap_or(var);
            let written = match var["Fn::GetAtt"].as_array().map(Vec::as_slice) {
                Some([id, attribute]) => {
                    format!("${{{}.{}}}", id.as_str().unwrap_or_default(), attribute.as_str().unwrap_or_default())
                }
                _ => format!("${{{}}}", resource(var)),
            };
            text = text.replace(&format!("${{{name}}}"), &written);
        }
        return text;
    }
    if let Some([id, _]) = value["Fn::GetAtt"].as_array().map(Vec::as_slice) {
        return id.as_str().unwrap_or_default().to_owned();
    }
    if let Some(id) = value["Ref"].as_str() {
        return id.to_owned();
    }
    if let Some(text) = value["Fn::Sub"].as_str() {
        return text.to_owned();
    }
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

fn listed(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// One line per (effect, action, resource, condition) a function's policies grant.
fn grants(policies: &Value) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for policy in listed(policies) {
        if let Some(managed) = policy["Ref"].as_str() {
            lines.insert(format!("Policy {managed}"));
            continue;
        }
        let Some(statements) = policy.get("Statement") else {
            // A SAM policy template: its name and arguments.
            let (name, args) = policy.as_object().and_then(|o| o.iter().next()).expect("a policy template");
            let args: Vec<String> = args.as_object().into_iter().flatten().map(|(_, v)| resource(v)).collect();
            lines.insert(format!("{name} {}", args.join(" ")));
            continue;
        };
        for statement in listed(statements) {
            let effect = statement["Effect"].as_str().expect("an effect");
            let condition = match &statement["Condition"] {
                Value::Null => String::new(),
                condition => format!(" if {condition}"),
            };
            for action in listed(&statement["Action"]) {
                for on in listed(&statement["Resource"]) {
                    lines.insert(format!("{effect} {} {}{condition}", action.as_str().unwrap(), resource(on)));
                }
            }
        }
    }
    lines
}

fn allowlist() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/permissions.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let parsed: BTreeMap<String, Vec<String>> = serde_norway::from_str(&text).unwrap();
    parsed.into_iter().map(|(function, lines)| (function, lines.into_iter().collect())).collect()
}

fn granted() -> BTreeMap<String, BTreeSet<String>> {
    let template = template();
    let functions = template.of_type("AWS::Serverless::Function").map(|(id, f)| (id, &f["Properties"]["Policies"]));
    // Managed policies that functions reference are allowlisted under their own name.
    let managed = template.of_type("AWS::IAM::ManagedPolicy").map(|(id, p)| (id, &p["Properties"]["PolicyDocument"]));
    functions.chain(managed).map(|(id, policies)| (id.to_owned(), grants(policies))).collect()
}

/// Every difference between what is granted and what is allowed, named.
fn differences(
    granted: &BTreeMap<String, BTreeSet<String>>,
    allowed: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut found = Vec::new();
    let empty = BTreeSet::new();
    for (function, lines) in granted {
        let Some(allowed) = allowed.get(function) else {
            found.push(format!("{function} has no allowlist"));
            continue;
        };
        found.extend(
            lines.difference(allowed).map(|line| format!("{function} is granted, beyond its allowlist: {line}")),
        );
    }
    for (function, lines) in allowed {
        let granted = granted.get(function).unwrap_or(&empty);
        found.extend(
            lines.difference(granted).map(|line| format!("{function}'s allowlist names what it lacks: {line}")),
        );
    }
    found
}

#[test]
fn given_every_function_then_its_policy_is_exactly_its_documented_allowlist() {
    let found = differences(&granted(), &allowlist());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn given_a_widened_policy_then_the_difference_is_named() {
    let mut granted = granted();
    let register = granted.get_mut("RegisterFunction").expect("the register function");
    register.insert("Allow dynamodb:UpdateItem Table".to_owned());
    register.insert("Allow dynamodb:Scan Table".to_owned());
    let found = differences(&granted, &allowlist());
    assert_eq!(
        found,
        [
            "RegisterFunction is granted, beyond its allowlist: Allow dynamodb:Scan Table",
            "RegisterFunction is granted, beyond its allowlist: Allow dynamodb:UpdateItem Table",
        ]
    );
}

#[test]
fn given_the_functions_that_parse_untrusted_input_first_then_they_write_only_rate_limit_counters() {
    let all = granted();
    for function in ["GuestFunction", "RegisterFunction"] {
        let granted = &all[function];
        let updates: Vec<&String> = granted.iter().filter(|line| line.contains("dynamodb:UpdateItem")).collect();
        assert!(!updates.is_empty(), "{function} takes rate-limit slots");
        for line in updates {
            assert!(line.contains("dynamodb:LeadingKeys") && line.contains("LIMIT#*"), "{function}: {line}");
        }
    }
}

/// The actions on the table's items that name their keys, so `dynamodb:LeadingKeys` holds
/// their partition keys; everything else on the table (Scan, PartiQL) names none.
const KEYED_ITEM_ACTIONS: [&str; 8] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
    "dynamodb:BatchGetItem",
];

/// Every grant on the table's items is keyed: an allowed action that names its keys, under
/// a `ForAllValues:StringLike` condition on `dynamodb:LeadingKeys` without a catch-all
/// prefix; and every function that reaches the table carries `TableKeyedAccessOnly`,
/// which denies the keyless actions (Scan, PartiQL) that such a condition lets through.
#[test]
fn given_every_function_then_its_table_grants_are_keyed_and_keyless_access_is_denied() {
    let template = template();
    let deny = &template.resource("TableKeyedAccessOnly").expect("the deny policy")["Properties"]["PolicyDocument"];
    let denied: Vec<&str> =
        listed(&deny["Statement"][0]["Action"]).iter().map(|action| action.as_str().unwrap()).collect();
    assert_eq!(deny["Statement"][0]["Effect"], "Deny");
    assert!(
        denied.contains(&"dynamodb:Scan") && denied.iter().filter(|a| a.starts_with("dynamodb:PartiQL")).count() == 4
    );

    let mut reaching = 0;
    for (function, lines) in granted() {
        let on_table: Vec<&String> = lines
            .iter()
            .filter(|line| line.starts_with("Allow ") && line.contains(" dynamodb:") && line.contains(" Table"))
            .collect();
        let items: Vec<&&String> = on_table.iter().filter(|line| !line.contains("dynamodb:DescribeTable")).collect();
        if items.is_empty() {
            continue;
        }
        // A managed policy's grants are keyed too; the functions naming it carry the deny.
        let managed = template.resource(&function).is_some_and(|r| r["Type"] == "AWS::IAM::ManagedPolicy");
        reaching += usize::from(!managed);
        assert!(
            managed || lines.contains("Policy TableKeyedAccessOnly"),
            "{function} reaches the table without the deny policy"
        );
        for line in items {
            let action = line.split(' ').nth(1).unwrap();
            assert!(KEYED_ITEM_ACTIONS.contains(&action), "{function} is granted a keyless action: {line}");
            let (_, condition) = line.split_once(" if ").unwrap_or_else(|| panic!("{function}: unkeyed {line}"));
            let condition: serde_json::Value = serde_json::from_str(condition).unwrap();
            let prefixes = condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"].as_array();
            let prefixes = prefixes.unwrap_or_else(|| panic!("{function}: no LeadingKeys in {line}"));
            for prefix in prefixes.iter().map(|p| p.as_str().unwrap()) {
                assert!(prefix.len() > 2 && prefix.ends_with("#*"), "{function}: a catch-all prefix {prefix}");
            }
        }
    }
    assert!(reaching >= 30, "{reaching} functions reach the table");
}

#[test]
fn given_a_widened_key_prefix_then_the_difference_is_named() {
    let mut granted = granted();
    let guest = granted.get_mut("GuestFunction").expect("the guest function");
    let limit =
        r#"Allow dynamodb:UpdateItem Table if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["LIMIT#*"]}}"#;
    assert!(guest.remove(limit), "guest updates only LIMIT# items: {guest:?}");
    guest.insert(limit.replace(r#"["LIMIT#*"]"#, r#"["LIMIT#*","USER#*"]"#));
    let found = differences(&granted, &allowlist());
    assert_eq!(
        found,
        [
            format!(
                "GuestFunction is granted, beyond its allowlist: {}",
                limit.replace(r#"["LIMIT#*"]"#, r#"["LIMIT#*","USER#*"]"#)
            ),
            format!("GuestFunction's allowlist names what it lacks: {limit}"),
        ]
    );
}
