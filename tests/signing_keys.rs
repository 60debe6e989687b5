//! The deploy's first signing key (custom resource `FirstSigningKey`, function
//! `signing-keys`), invoked as CloudFormation invokes it, through `cargo lambda watch`'s
//! Invoke API, with its answer read where CloudFormation would read it (`ResponseURL`).

use std::time::Duration;

use ballot_tests::{Receiver, client, invoke_api};
use serde_json::{Value, json};
use shared::auth::keys::KeySet;

/// Two new secrets with no value, as the template creates the signing key secrets.
async fn empty_secrets() -> (aws_sdk_secretsmanager::Client, String, String) {
    let secrets = ballot_local::bootstrap::Clients::from_env().await.secrets;
    let id = ballot_core::ids::random_id();
    let (signing, verification) = (format!("test-signing-{id}"), format!("test-verification-{id}"));
    for name in [&signing, &verification] {
        secrets.create_secret().name(name).send().await.unwrap();
    }
    (secrets, signing, verification)
}

/// Sends CloudFormation's `kind` request for the resource to the function; the answer it
/// PUT to the response URL.
async fn request(kind: &str, signing: &str, verification: &str) -> Value {
    let receiver = Receiver::start(&[200]).await;
    let event = json!({
        "RequestType": kind, "ResponseURL": receiver.url, "RequestId": ballot_core::ids::random_id(),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/ballot/1", "LogicalResourceId": "FirstSigningKey",
        "ResourceType": "Custom::SigningKeys", "PhysicalResourceId": (kind != "Create").then_some("first-signing-key"),
        "ResourceProperties": {"ServiceToken": "arn", "SigningKeysSecretId": signing, "VerificationKeysSecretId": verification},
    });
    let url = format!("{}/2015-03-31/functions/signing-keys/invocations", invoke_api());
    let invoked = client().post(url).json(&event).send().await.unwrap();
    assert!(invoked.status().is_success(), "{}", invoked.text().await.unwrap());
    let answers = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(answers.len(), 1, "one answer to CloudFormation");
    assert!(!answers[0].headers.contains_key("content-type"), "no Content-Type: the URL is signed without one");
    serde_json::from_slice(&answers[0].body).unwrap()
}

async fn value(secrets: &aws_sdk_secretsmanager::Client, id: &str) -> String {
    secrets.get_secret_value().secret_id(id).send().await.unwrap().secret_string().unwrap().to_owned()
}

#[tokio::test]
async fn given_a_fresh_stack_when_deployed_then_the_first_key_is_made_once_and_kept() {
    let (secrets, signing, verification) = empty_secrets().await;

    let created = request("Create", &signing, &verification).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(
        (created["Data"]["Created"].as_bool(), created["PhysicalResourceId"].as_str()),
        (Some(true), Some("first-signing-key"))
    );
    let kid = created["Data"]["Kid"].as_str().unwrap().to_owned();
    let set = KeySet::parse(&value(&secrets, &signing).await).unwrap();
    assert_eq!(set.current_kid(), kid);
    assert!(set.signer().is_some(), "the set can sign");
    let public = value(&secrets, &verification).await;
    assert!(!public.contains("pkcs8"), "the public copy has no private key");
    assert_eq!(KeySet::parse(&public).unwrap().current_kid(), kid);

    // Every later deploy (Update) keeps the set; deleting the stack keeps it too.
    let before = value(&secrets, &signing).await;
    let updated = request("Update", &signing, &verification).await;
    assert_eq!((updated["Status"].as_str(), updated["Data"]["Created"].as_bool()), (Some("SUCCESS"), Some(false)));
    assert_eq!(updated["Data"]["Kid"], kid.as_str());
    let deleted = request("Delete", &signing, &verification).await;
    assert_eq!(deleted["Status"], "SUCCESS");
    assert_eq!(value(&secrets, &signing).await, before, "the keys are untouched");
}

#[tokio::test]
async fn given_a_secret_it_cannot_write_then_cloudformation_is_told_it_failed() {
    let missing = format!("no-such-secret-{}", ballot_core::ids::random_id());
    let failed = request("Create", &missing, &missing).await;
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    assert!(failed["Reason"].as_str().is_some_and(|r| r.contains("see the function's log")), "{failed}");
}

/// A set that is there but unusable is never replaced: that would end every live token.
#[tokio::test]
async fn given_a_key_set_it_cannot_read_then_it_is_kept_and_cloudformation_is_told() {
    let (secrets, signing, verification) = empty_secrets().await;
    secrets.put_secret_value().secret_id(&signing).secret_string("{\"not\": \"a key set\"}").send().await.unwrap();
    let failed = request("Update", &signing, &verification).await;
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    assert_eq!(failed["PhysicalResourceId"], "first-signing-key", "the id CloudFormation sent");
    assert_eq!(value(&secrets, &signing).await, "{\"not\": \"a key set\"}", "left as it was");
}
