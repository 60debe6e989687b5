//! Schemathesis against the local stack: every operation of `infra/openapi.yaml`, with an
//! admin's token (admins may call every route), through the examples, coverage
//! (boundaries and negative cases), fuzzing and stateful (the document's links) phases,
//! with every check, a fixed seed and a bounded time. 0 failures is the bar; a failure
//! prints the `curl` that reproduces it. The rules JSON Schema can't say, and the statuses
//! they refuse with, are in `infra/schemathesis.toml`; `infra/schemathesis_hooks.py`
//! gives each request's Idempotency-Key a value of its own.
//!
//! `make test` runs this alone, after the other tests (the fuzzing makes thousands of
//! polls and accounts, and would only slow the others).

use std::process::Command;

use ballot_core::access::Role;
use ballot_tests::{api, repo_root, token_for};

/// The run's bound in seconds (the examples per phase are in the configuration), and seed.
const MAX_SECONDS: &str = "300";
const SEED: &str = "20261207";

#[tokio::test]
async fn given_the_document_when_schemathesis_runs_every_operation_then_no_failure() {
    let admin = token_for(&[Role::Admin]).await;
    let root = repo_root();
    // Run from a directory of its own: Schemathesis keeps a cache where it runs.
    let work = std::env::temp_dir().join(format!("ballot-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let mut command = Command::new(root.join(".venv/bin/schemathesis"));
    command
        .current_dir(&work)
        .env("PYTHONPATH", root.join("infra"))
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .arg("--no-color")
        .arg("--config-file")
        .arg(root.join("infra/schemathesis.toml"))
        .arg("run")
        .arg(root.join("infra/openapi.yaml"))
        .args(["--url", &api(), "--header", &format!("Authorization: Bearer {admin}")])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-time", MAX_SECONDS, "--seed", SEED, "--workers", "2", "--request-timeout", "30"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&work);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("schemathesis runs");
    let text = String::from_utf8_lossy(&output.stdout);
    println!("{text}\n{}", String::from_utf8_lossy(&output.stderr));
    println!("junit report in {}", work.display());
    assert!(text.contains("Stateful (in "), "the stateful phase ran within the time");
    assert!(output.status.success(), "schemathesis found failures (each with its curl above)");
}
