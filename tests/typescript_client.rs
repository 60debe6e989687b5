//! The TypeScript client (`clients/typescript`): its types are what the pinned generator
//! makes of `infra/openapi.yaml` today (regenerating changes nothing), it compiles under
//! `strict`, and its smoke script creates a poll, votes and reads the counted results
//! through the local gateway.

use std::process::Command;

use ballot_core::access::Role;
use ballot_tests::{api, repo_root, token_for};

fn npm(args: &[&str]) -> Command {
    let mut command = Command::new("npm");
    command.current_dir(repo_root().join("clients/typescript")).args(["run", "--silent"]).args(args);
    command
}

/// Runs `command`; its output when it failed.
fn run(mut command: Command) -> Result<String, String> {
    let output = command.output().expect("npm runs (Node is installed)");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() { Ok(text) } else { Err(text) }
}

#[test]
fn given_the_document_then_regenerating_the_client_s_types_changes_nothing() {
    let checked = run(npm(&["check-generated"]));
    assert!(checked.is_ok(), "clients/typescript/src/schema.d.ts is stale: run `npm run generate` there\n{checked:?}");
}

#[tokio::test]
async fn given_the_client_then_its_smoke_script_creates_a_poll_votes_and_reads_the_counted_results() {
    let mut smoke = npm(&["smoke"]);
    smoke.env("BALLOT_API_URL", api()).env("BALLOT_TOKEN", token_for(&[Role::Editor]).await);
    let output = tokio::task::spawn_blocking(move || run(smoke)).await.unwrap();
    let output = output.unwrap_or_else(|failed| panic!("the smoke script failed:\n{failed}"));
    println!("{output}");
    assert!(output.contains("voted ") && output.contains("Coffee 1") && output.ends_with("smoke: ok\n"), "{output}");
}
