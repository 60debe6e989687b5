//! Rules of `template.yaml` that no local run can notice, read from the template.

use std::collections::BTreeMap;

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
