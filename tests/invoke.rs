//! Every function answers its sample event in `events/`, invoked through
//! `cargo lambda watch`'s Invoke API exactly as `cargo lambda invoke --data-file` does.

use std::fs;

use ballot_tests::{client, invoke_api, repo_root, template};
use serde_json::Value;

/// Function crates under `functions/` (each is one binary of the same name).
fn function_crates() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo_root().join("functions"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `events/<name>.json` and `events/<name>.*.json`.
fn samples(function: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = fs::read_dir(repo_root().join("events"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name == format!("{function}.json") || (name.starts_with(&format!("{function}.")) && name.ends_with(".json"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn given_template_yaml_then_every_function_has_a_crate_and_every_crate_a_function() {
    let template = template();
    let mut binaries: Vec<String> =
        template.of_type("AWS::Serverless::Function").map(|(id, _)| template.function_binary(id).unwrap()).collect();
    binaries.sort();
    assert_eq!(binaries, function_crates());
}

#[tokio::test]
async fn given_each_function_when_invoked_with_its_samples_then_it_answers() {
    for function in function_crates() {
        let samples = samples(&function);
        assert!(!samples.is_empty(), "functions/{function} has no sample event in events/");
        for sample in samples {
            let event: Value = serde_json::from_str(&fs::read_to_string(&sample).unwrap()).unwrap();
            let url = format!("{}/2015-03-31/functions/{function}/invocations", invoke_api());
            let response = client().post(url).json(&event).send().await.unwrap();
            let status = response.status();
            let result: Value = response.json().await.unwrap();
            if event["type"] == "REQUEST" {
                // Authorizer samples carry a token no local key signed: the answer is the
                // `Unauthorized` error that API Gateway turns into 401 (a real token's
                // policy is covered end to end in e2e).
                assert_eq!(result["errorMessage"], "Unauthorized", "{}: {result}", sample.display());
                continue;
            }
            if event.get("RequestType").is_some() {
                // A custom resource's sample names a ResponseURL nothing listens on: its answer
                // can't be sent, which is the invocation's error, so Lambda retries it
                // (tests/signing_keys.rs reads real answers).
                assert!(result["errorMessage"].is_string(), "{}: {result}", sample.display());
                continue;
            }
            assert!(status.is_success(), "{}: invoke status {status}: {result}", sample.display());
            if event.get("httpMethod").is_some() {
                // Samples may be refusals (a login with no such account): the function
                // answers, with its headers, and never fails.
                let status = result["statusCode"].as_u64().unwrap_or(0);
                assert!((200..500).contains(&status), "{}: statusCode {status}: {result}", sample.display());
                let hsts = result["headers"]["strict-transport-security"].is_string()
                    || result["multiValueHeaders"]["strict-transport-security"].is_array();
                assert!(hsts, "{}: no security headers: {result}", sample.display());
            }
        }
    }
}

#[tokio::test]
async fn given_the_health_sample_when_invoked_then_200_ok() {
    let event = fs::read_to_string(repo_root().join("events/health.json")).unwrap();
    let url = format!("{}/2015-03-31/functions/health/invocations", invoke_api());
    let result: Value = client().post(url).body(event).send().await.unwrap().json().await.unwrap();
    assert_eq!(result["statusCode"], 200);
    let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "ok");
}
