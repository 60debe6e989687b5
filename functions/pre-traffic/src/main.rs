//! CodeDeploy's pre-traffic hook of the canary deploys: probes each new version of the
//! hot-path functions and checks the signing keys (`shared::deploy_hook`), then reports
//! `Succeeded` or `Failed` for the deployment; a failure rolls it back before any traffic
//! shifted. Its name starts `CodeDeployHook_`: the role SAM gives CodeDeploy may invoke
//! only such functions.

// The future of the hook (probes → SDK) nests deeper than rustc's default layout query
// depth of 128.
#![recursion_limit = "256"]

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use shared::{app::App, deploy_hook, telemetry};
use tracing::Instrument;

/// What CodeDeploy sends a lifecycle hook.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HookEvent {
    deployment_id: String,
    lifecycle_event_hook_execution_id: String,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let targets = deploy_hook::targets(std::env::vars())?;
    let lambda = aws_sdk_lambda::Client::new(&app.aws.sdk);
    let codedeploy = aws_sdk_codedeploy::Client::new(&app.aws.sdk);
    let keys = app.verification_keys();
    let (targets, lambda, codedeploy, keys) = (&targets, &lambda, &codedeploy, &keys);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<HookEvent>| {
        let span = telemetry::request_span(&event.payload.deployment_id, Some(&event.context));
        async move {
            let hook = event.payload;
            let problems = deploy_hook::check(lambda, keys, targets).await;
            let status =
                if problems.is_empty() { LifecycleEventStatus::Succeeded } else { LifecycleEventStatus::Failed };
            tracing::info!(deployment = %hook.deployment_id, status = status.as_str(), ?problems, "pre-traffic checks");
            codedeploy
                .put_lifecycle_event_hook_execution_status()
                .deployment_id(&hook.deployment_id)
                .lifecycle_event_hook_execution_id(&hook.lifecycle_event_hook_execution_id)
                .status(status.clone())
                .send()
                .await
                .map_err(|e| aws_sdk_codedeploy::error::DisplayErrorContext(e).to_string())?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({"status": status.as_str(), "problems": problems}))
        }
        .instrument(span)
    }))
    .await
}
