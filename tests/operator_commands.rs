//! The operator commands against a deployed stack (`make … STACK=<name>`): the stack's
//! outputs name its resources (`infra/ops_env.py` reads them with boto3). Here the
//! "deployed" stack is a CloudFormation stack on the local endpoint whose outputs name
//! the local stack's table, as a real one's name its own.

use ballot_core::access::Role;
use ballot_tests::{assert_recounted, call, local_store, make, repo_root, token_for_account, vote_as_new_viewer};
use serde_json::{Value, json};

/// A CloudFormation stack on the local endpoint whose `TableName` output is the local
/// table (made with boto3 from `.venv`, as `infra/ops_env.py` reads it).
async fn deployed_stack() -> String {
    let name = format!("ops-{}", ballot_core::ids::random_id().to_lowercase().replace(['-', '_'], ""));
    let template = json!({
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"TableName": {"Value": local_store().await.table}},
    });
    let script = "import boto3, os, sys; boto3.client('cloudformation', region_name=os.environ['AWS_REGION'])\
        .create_stack(StackName=sys.argv[1], TemplateBody=sys.argv[2])";
    let made = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .args(["-c", script, &name, &template.to_string()])
        .output()
        .expect("python runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    name
}

#[tokio::test]
async fn given_a_stack_name_then_recount_and_admin_find_its_table_from_its_outputs() {
    let stack = deployed_stack().await;
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let body = json!({"question": "Operated?", "options": [{"text": "a"}, {"text": "b"}]});
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, option) = (poll["id"].as_str().unwrap(), poll["options"][0]["id"].as_str().unwrap());
    vote_as_new_viewer(id, option).await;
    assert_recounted(id).await;
    let said = make(&["recount", &format!("POLL={id}"), &format!("STACK={stack}")]);
    assert!(said.contains("they agree"), "{said}");

    let (_, user_id) = token_for_account(&[Role::Viewer]).await;
    let account = local_store().await.user(&user_id).await.unwrap().expect("the account");
    let said = make(&["admin", &format!("EMAIL={}", account.email), &format!("STACK={stack}")]);
    assert!(said.contains("is now an admin"), "{said}");
    let account = local_store().await.user(&user_id).await.unwrap().expect("the account");
    assert!(account.roles.contains(&Role::Admin), "{:?}", account.roles);
}
