//! Rules of `template.yaml` that no local run can notice, read from the template.

use std::collections::BTreeMap;

use ballot_local::template::Template;
use ballot_tests::template;
use serde_json::{Value, json};

/// Reserved concurrency also caps a function, so it is optional and off by default: only
/// the authorizer, login and refresh may reserve any, each through its own parameter
/// that defaults to 0, and nothing on the vote path is ever capped.
#[test]
fn given_the_template_then_reserved_concurrency_is_opt_in_and_only_for_sign_in() {
    let template = template();
    let defaults = template.parameter_defaults();
    let allowed = BTreeMap::from([
        ("AuthorizerFunction", ("AuthorizerReserved", "AuthorizerReservedConcurrency")),
        ("LoginFunction", ("LoginReserved", "LoginReservedConcurrency")),
        ("RefreshFunction", ("RefreshReserved", "RefreshReservedConcurrency")),
    ]);
    let mut reserving = Vec::new();
    for (id, function) in template.of_type("AWS::Serverless::Function") {
        let Some(reserved) = function["Properties"].get("ReservedConcurrentExecutions") else {
            continue;
        };
        let (condition, parameter) = allowed.get(id).unwrap_or_else(|| panic!("{id} reserves concurrency: {reserved}"));
        let expected = json!({"Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]});
        assert_eq!(reserved, &expected, "{id} reserves only through {parameter}");
        assert_eq!(defaults[*parameter].as_deref(), Some("0"), "{parameter} is off by default");
        let rule = &template.root["Conditions"][*condition];
        assert_eq!(rule, &json!({"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}), "{condition}");
        reserving.push(id.to_owned());
    }
    reserving.sort();
    assert_eq!(reserving, ["AuthorizerFunction", "LoginFunction", "RefreshFunction"]);
    let cast_vote: &Value = template.resource("CastVoteFunction").expect("the vote path");
    assert!(cast_vote["Properties"].get("ReservedConcurrentExecutions").is_none());
}

/// Designed attempts per consumed queue: how many receives its consumer's own retry plan
/// uses before a message should give up (the webhook deliveries: one more than
/// `WebhookRetryDelays` has delays). A new queue must be added here.
fn designed_attempts(template: &Template, queue: &str) -> Option<u64> {
    match queue {
        "EventsQueue" | "LiveQueue" => Some(5),
        "DeliveriesQueue" => {
            let delays = template.parameter_defaults()["WebhookRetryDelays"].clone().unwrap_or_default();
            Some(delays.split(',').count() as u64 + 1)
        }
        _ => None,
    }
}

/// Receives beyond the designed attempts, for invocations Lambda throttled (each one
/// counts as a receive).
const THROTTLE_ROOM: u64 = 5;

/// One metric an alarm watches: namespace, name, and its dimensions' values.
struct Watched {
    namespace: String,
    name: String,
    dimensions: Vec<Value>,
}

fn watched(alarm: &Value) -> Vec<Watched> {
    let p = &alarm["Properties"];
    let of = |m: &Value| Watched {
        namespace: m["Namespace"].as_str().unwrap_or_default().to_owned(),
        name: m["MetricName"].as_str().unwrap_or_default().to_owned(),
        dimensions: m["Dimensions"].as_array().into_iter().flatten().map(|d| d["Value"].clone()).collect(),
    };
    match p["Metrics"].as_array() {
        Some(metrics) => metrics.iter().filter_map(|m| m.pointer("/MetricStat/Metric")).map(of).collect(),
        None => vec![of(p)],
    }
}

/// Every way `template` breaks the operations rules (empty when it keeps them all):
/// - every SQS consumer's queue: visibility ≥ 6 × the consumer's timeout plus its batching
///   window; `maxReceiveCount` ≥ designed attempts + [`THROTTLE_ROOM`]; a
///   `ScalingConfig.MaximumConcurrency`; `ReportBatchItemFailures`;
/// - every stream consumer: an on-failure destination, bounded retries, bisection, and an
///   iterator-age alarm;
/// - every function has an alarm on its errors and throttles; every queue an alarm;
/// - every alarm notifies the AlarmTopic;
/// - every secret is retained when the stack is deleted or the secret replaced.
fn operations_violations(template: &Template) -> Vec<String> {
    let mut broken = Vec::new();
    let alarms: Vec<(&str, &Value)> = template.of_type("AWS::CloudWatch::Alarm").collect();
    let watches = |namespace: &str, names: &[&str], target: &Value| {
        alarms.iter().any(|(_, alarm)| {
            watched(alarm)
                .iter()
                .any(|w| w.namespace == namespace && names.contains(&w.name.as_str()) && w.dimensions.contains(target))
        })
    };
    for source in template.sqs_event_sources().expect("SQS sources") {
        let (function, queue_id) = (&source.function, &source.queue);
        let resource = template.resource(function).unwrap();
        let timeout = template.function_property(resource, "Timeout").and_then(|t| t.as_u64()).unwrap_or(3);
        let queue = &template.resource(queue_id).unwrap()["Properties"];
        let visibility = queue["VisibilityTimeout"].as_u64().unwrap_or(30);
        let least = 6 * timeout + source.batching_window_secs;
        if visibility < least {
            broken.push(format!("{queue_id}: VisibilityTimeout {visibility} < 6 × {function}'s {timeout} s timeout + {} s window = {least}", source.batching_window_secs));
        }
        let receives = queue.pointer("/RedrivePolicy/maxReceiveCount").and_then(Value::as_u64);
        match (designed_attempts(template, queue_id), receives) {
            (None, _) => broken.push(format!("{queue_id}: no designed attempts known (tests/template_rules.rs)")),
            (_, None) => broken.push(format!("{queue_id}: no RedrivePolicy.maxReceiveCount")),
            (Some(designed), Some(receives)) if receives < designed + THROTTLE_ROOM => broken.push(format!(
                "{queue_id}: maxReceiveCount {receives} < {designed} designed attempts + {THROTTLE_ROOM} for throttles"
            )),
            _ => {}
        }
        let event = resource["Properties"]["Events"].as_object().into_iter().flatten().map(|(_, e)| e).find(|e| {
            e["Type"] == "SQS" && e.pointer("/Properties/Queue/Fn::GetAtt/0").and_then(Value::as_str) == Some(queue_id)
        });
        let concurrency =
            event.and_then(|e| e.pointer("/Properties/ScalingConfig/MaximumConcurrency")).and_then(Value::as_u64);
        if !concurrency.is_some_and(|c| (2..=1000).contains(&c)) {
            broken.push(format!("{function}: the {queue_id} source has no ScalingConfig.MaximumConcurrency (2-1000)"));
        }
        if !source.report_batch_item_failures {
            broken.push(format!("{function}: the {queue_id} source does not ReportBatchItemFailures"));
        }
    }
    for (id, function) in template.of_type("AWS::Serverless::Function") {
        let target = json!({"Ref": id});
        for (_, event) in function["Properties"]["Events"].as_object().into_iter().flatten() {
            if event["Type"] != "DynamoDB" {
                continue;
            }
            let p = &event["Properties"];
            if p.pointer("/DestinationConfig/OnFailure/Destination").is_none() {
                broken.push(format!("{id}: its stream source has no on-failure destination"));
            }
            if !p["MaximumRetryAttempts"].as_i64().is_some_and(|n| (0..=10_000).contains(&n)) {
                broken.push(format!("{id}: its stream source retries without bound"));
            }
            if p["BisectBatchOnFunctionError"] != true {
                broken.push(format!("{id}: its stream source does not bisect failing batches"));
            }
            if !watches("AWS/Lambda", &["IteratorAge"], &target) {
                broken.push(format!("{id}: no alarm on its stream iterator age"));
            }
        }
        // The authorizer's refusals are Lambda errors by API Gateway's design: its own
        // failures are the AuthorizerFailures metric.
        let errors_watched = match id {
            "AuthorizerFunction" => watches("Ballot", &["AuthorizerFailures"], &json!({"Ref": "AWS::StackName"})),
            _ => watches("AWS/Lambda", &["Errors"], &target),
        };
        if !errors_watched {
            broken.push(format!("{id}: no alarm on its Errors"));
        }
        if !watches("AWS/Lambda", &["Throttles"], &target) {
            broken.push(format!("{id}: no alarm on its Throttles"));
        }
    }
    for (id, _) in template.of_type("AWS::SQS::Queue") {
        let name = json!({"Fn::GetAtt": [id, "QueueName"]});
        let ages = ["ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"];
        if !watches("AWS/SQS", &ages, &name) {
            broken.push(format!("{id}: no alarm on its depth or age"));
        }
    }
    for (id, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"].as_array();
        if !actions.is_some_and(|a| a.contains(&json!({"Ref": "AlarmTopic"}))) {
            broken.push(format!("{id}: notifies no one (AlarmActions lacks the AlarmTopic)"));
        }
    }
    for (id, secret) in template.of_type("AWS::SecretsManager::Secret") {
        if secret["DeletionPolicy"] != "Retain" || secret["UpdateReplacePolicy"] != "Retain" {
            broken.push(format!("{id}: not retained (DeletionPolicy and UpdateReplacePolicy: Retain)"));
        }
    }
    broken
}

#[test]
fn given_the_template_then_queues_consumers_alarms_and_secrets_keep_the_operations_rules() {
    let broken = operations_violations(&template());
    assert!(broken.is_empty(), "template.yaml breaks the operations rules:\n{}", broken.join("\n"));
}

/// A break of the template: where, how, and what the rules must then say.
type Break = (&'static str, fn(&mut Value), &'static [&'static str]);

/// The rules above catch each kind of break: a copy of the template, broken once per rule.
#[test]
fn given_a_broken_template_then_each_break_is_named() {
    let breaks: [Break; 7] = [
        (
            "/Resources/EventsQueue/Properties/VisibilityTimeout",
            |v| *v = json!(60),
            &["EventsQueue: VisibilityTimeout 60 < 6 × PollEventsFunction's 60 s timeout + 1 s window = 361"],
        ),
        (
            "/Resources/LiveQueue/Properties/RedrivePolicy/maxReceiveCount",
            |v| *v = json!(5),
            &["LiveQueue: maxReceiveCount 5 < 5 designed attempts + 5 for throttles"],
        ),
        (
            "/Resources/WebhookDeliveriesFunction/Properties/Events/Deliveries/Properties",
            |v| {
                v.as_object_mut().unwrap().remove("ScalingConfig");
            },
            &["WebhookDeliveriesFunction: the DeliveriesQueue source has no ScalingConfig.MaximumConcurrency (2-1000)"],
        ),
        (
            "/Resources",
            |v| {
                v.as_object_mut().unwrap().remove("MeFunctionErrorsAlarm");
            },
            &["MeFunction: no alarm on its Errors", "MeFunction: no alarm on its Throttles"],
        ),
        (
            "/Resources/LiveDeadLetterQueueAlarm/Properties",
            |v| {
                v.as_object_mut().unwrap().remove("AlarmActions");
            },
            &["LiveDeadLetterQueueAlarm: notifies no one (AlarmActions lacks the AlarmTopic)"],
        ),
        (
            "/Resources",
            |v| {
                v.as_object_mut().unwrap().remove("TallyIteratorAgeAlarm");
            },
            &["TallyFunction: no alarm on its stream iterator age"],
        ),
        (
            "/Resources/WebhookKeySecret",
            |v| {
                v.as_object_mut().unwrap().remove("DeletionPolicy");
            },
            &["WebhookKeySecret: not retained (DeletionPolicy and UpdateReplacePolicy: Retain)"],
        ),
    ];
    for (pointer, break_it, named) in breaks {
        let mut broken = template();
        break_it(broken.root.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")));
        let violations = operations_violations(&broken);
        assert_eq!(violations, named, "breaking {pointer}");
    }
}

/// Where `value` refers to the stack's table outside the switch to a restored table: each
/// `!GetAtt Table.*` and `!Ref Table` must be the own branch of
/// `!If [UsesRestoredTable, <the restored table's same value>, <own>]`.
fn unswitched_table_uses(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(parts)) = map.get("Fn::If")
                && parts.len() == 3
                && parts[0] == "UsesRestoredTable"
            {
                let restored = &parts[1];
                let expected = match &parts[2] {
                    own if own == &json!({"Fn::GetAtt": ["Table", "Arn"]}) => Some(json!({"Ref": "RestoredTableArn"})),
                    own if own == &json!({"Fn::GetAtt": ["Table", "StreamArn"]}) => {
                        Some(json!({"Ref": "RestoredTableStreamArn"}))
                    }
                    own if own == &json!({"Ref": "Table"}) => {
                        Some(json!({"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "RestoredTableArn"}]}]}))
                    }
                    _ => None,
                };
                if expected.as_ref() != Some(restored) {
                    found.push(format!("{path}: the restored branch {restored} does not match {}", parts[2]));
                }
                return;
            }
            let own_table = map.get("Ref") == Some(&json!("Table"))
                || map.get("Fn::GetAtt").and_then(|g| g.get(0)) == Some(&json!("Table"));
            if own_table {
                found.push(format!("{path}: {value} is not switched by UsesRestoredTable"));
            }
            for (key, inner) in map {
                unswitched_table_uses(inner, &format!("{path}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                unswitched_table_uses(inner, &format!("{path}/{i}"), found);
            }
        }
        Value::String(text) if text.contains("${Table}") || text.contains("${Table.") => {
            found.push(format!("{path}: a !Sub names the stack's table directly: {text}"));
        }
        _ => {}
    }
}

/// After a restore the stack is switched to the restored table by two parameters: so no
/// function, policy, stream source, output or widget may name the stack's own table
/// except through the switch, or it would keep reading the old one.
#[test]
fn given_the_template_then_every_use_of_the_table_switches_to_a_restored_one() {
    let template = template();
    let mut found = Vec::new();
    for section in ["Globals", "Resources", "Outputs"] {
        unswitched_table_uses(&template.root[section], section, &mut found);
    }
    // The table's own definition and alarms on it are the stack's table by design.
    found.retain(|f| !f.starts_with("Resources/Table/"));
    assert!(found.is_empty(), "{}", found.join("\n"));

    let mut broken = template.clone();
    broken.root["Resources"]["MeFunction"]["Properties"]["Policies"][1]["Statement"][0]["Resource"] =
        json!({"Fn::GetAtt": ["Table", "Arn"]});
    let mut found = Vec::new();
    unswitched_table_uses(&broken.root["Resources"]["MeFunction"], "MeFunction", &mut found);
    assert_eq!(found.len(), 1, "{found:?}");
}
