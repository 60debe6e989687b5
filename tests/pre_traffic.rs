//! The canary deploys' pre-traffic hook (function `pre-traffic`), invoked as CodeDeploy
//! invokes it: it probes the hot-path functions (locally through `cargo lambda watch`, as
//! the Lambda API) and the signing keys, then reports to CodeDeploy (moto, which keeps the
//! status: `GET /_ballot/hooks`). What a failing probe looks like is judged in
//! `shared::deploy_hook`'s unit tests.

use ballot_tests::{client, invoke_api, required_env};
use serde_json::{Value, json};

#[tokio::test]
async fn given_healthy_new_versions_when_codedeploy_asks_then_the_hook_reports_succeeded() {
    let (deployment, execution) =
        (format!("d-{}", ballot_core::ids::random_id()), format!("hook-{}", ballot_core::ids::random_id()));
    let event = json!({"DeploymentId": deployment, "LifecycleEventHookExecutionId": execution});
    let url = format!("{}/2015-03-31/functions/pre-traffic/invocations", invoke_api());
    let answer: Value = client().post(url).json(&event).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["status"], "Succeeded", "{answer}");
    assert_eq!(answer["problems"], json!([]), "every probe passed and the keys are there: {answer}");

    let hooks: Value = client()
        .get(format!("{}/_ballot/hooks", required_env("AWS_ENDPOINT_URL")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reported: Vec<&Value> =
        hooks["statuses"].as_array().unwrap().iter().filter(|s| s["deploymentId"] == deployment.as_str()).collect();
    assert_eq!(reported.len(), 1, "one report to CodeDeploy: {hooks}");
    assert_eq!(reported[0]["lifecycleEventHookExecutionId"], execution.as_str());
    assert_eq!(reported[0]["status"], "Succeeded");
}
