//! CloudFormation custom resources: the request CloudFormation sends a function, and the
//! answer it waits for, a `PUT` of JSON to the request's presigned `ResponseURL` (with no
//! `Content-Type`: the URL is signed without one). Every request gets an answer, SUCCESS
//! or FAILED with a reason, so a deploy never waits an hour on a function that failed; the
//! reason names no secret.

use std::future::Future;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

/// What CloudFormation asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// One custom resource request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Absent on Create.
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
}

/// What a handler made of a request: the resource's physical id, and the attributes
/// `!GetAtt` reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub physical_id: String,
    pub data: Value,
}

/// The answer to `request` for `outcome`. The physical id never changes once given: an
/// Update or Delete answers with the one CloudFormation sent (these resources are never
/// replaced); a Create with the handler's, or the logical id when it failed.
pub fn answer(request: &Request, outcome: &Result<Done, String>) -> Value {
    let physical_id = request.physical_resource_id.clone().unwrap_or_else(|| match outcome {
        Ok(done) => done.physical_id.clone(),
        Err(_) => request.logical_resource_id.clone(),
    });
    let mut answer = json!({"PhysicalResourceId": physical_id, "StackId": request.stack_id,
                            "RequestId": request.request_id, "LogicalResourceId": request.logical_resource_id});
    match outcome {
        Ok(done) => {
            answer["Status"] = json!("SUCCESS");
            answer["Data"] = done.data.clone();
        }
        Err(reason) => {
            answer["Status"] = json!("FAILED");
            answer["Reason"] = json!(format!("{reason} (see the function's log)"));
        }
    }
    answer
}

/// Runs a custom resource function: `handler` gets each request; its outcome is sent
/// to CloudFormation. A failure to send is the invocation's error (Lambda retries it).
pub async fn serve<D, F, Fut>(deps: D, handler: F) -> Result<(), lambda_runtime::Error>
where
    D: Send + Sync + 'static,
    F: Fn(std::sync::Arc<D>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Done, String>> + Send + 'static,
{
    let (deps, handler) = (std::sync::Arc::new(deps), std::sync::Arc::new(handler));
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Request>| {
        let (deps, handler, http) = (deps.clone(), handler.clone(), http.clone());
        let span = crate::telemetry::request_span(&event.payload.request_id, Some(&event.context));
        async move {
            let request = event.payload;
            let outcome = handler(deps, request.clone()).await;
            match &outcome {
                Ok(done) => tracing::info!(kind = ?request.request_type, physical_id = %done.physical_id, "custom resource done"),
                Err(reason) => tracing::error!(kind = ?request.request_type, %reason, "custom resource failed"),
            }
            let body = answer(&request, &outcome).to_string();
            let sent = http.put(&request.response_url).body(body).send().await?;
            sent.error_for_status()?;
            Ok::<_, lambda_runtime::Error>(())
        }
        .instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str) -> Request {
        serde_json::from_value(json!({"RequestType": kind, "ResponseURL": "https://example.invalid/r",
            "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1", "RequestId": "r1",
            "LogicalResourceId": "FirstSigningKey", "ResourceType": "Custom::SigningKeys",
            "ResourceProperties": {"ServiceToken": "arn", "SigningKeysSecretId": "s"}}))
        .unwrap()
    }

    #[test]
    fn given_an_outcome_then_the_answer_is_what_cloudformation_reads() {
        let done = Done { physical_id: "first-signing-key".into(), data: json!({"Kid": "k1"}) };
        let ok = answer(&request("Create"), &Ok(done));
        assert_eq!(ok["Status"], "SUCCESS");
        assert_eq!(
            (ok["PhysicalResourceId"].as_str(), ok["Data"]["Kid"].as_str()),
            (Some("first-signing-key"), Some("k1"))
        );
        assert_eq!((ok["RequestId"].as_str(), ok["LogicalResourceId"].as_str()), (Some("r1"), Some("FirstSigningKey")));
        let failed = answer(&request("Update"), &Err("the secret could not be written".into()));
        assert_eq!(failed["Status"], "FAILED");
        assert!(failed["Reason"].as_str().unwrap().starts_with("the secret could not be written"));
        assert_eq!(failed["PhysicalResourceId"], "FirstSigningKey", "a failed Create still names a resource");
        let mut delete = request("Delete");
        delete.physical_resource_id = Some("FirstSigningKey".into());
        let done = Done { physical_id: "first-signing-key".into(), data: json!({}) };
        assert_eq!(answer(&delete, &Ok(done))["PhysicalResourceId"], "FirstSigningKey", "the id it was given");
    }
}
