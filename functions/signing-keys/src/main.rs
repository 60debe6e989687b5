//! The deploy's custom resource `FirstSigningKey`: on Create and Update, makes the first
//! JWT signing key set (and its public copy) when the secret named in its properties has
//! none, so a fresh stack serves tokens without a manual step; a set already there is kept
//! (`shared::auth::key_rotation::ensure_signing_keys`). Delete keeps the keys: the
//! secrets are retained with the table. Rotation stays `make rotate-keys`.

use shared::{
    auth::key_rotation::ensure_signing_keys,
    aws::AwsClients,
    custom_resource::{self, Done, Request, RequestType},
    telemetry,
};

/// No configuration is read at start (its secrets come with each request): a cold start
/// that cannot fail, so CloudFormation always gets an answer.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let aws = AwsClients::from_env().await;
    custom_resource::serve(aws.secrets, |secrets, request: Request| async move {
        let physical_id = "first-signing-key".to_owned();
        if request.request_type == RequestType::Delete {
            return Ok(Done { physical_id, data: serde_json::json!({}) });
        }
        let property = |name: &str| {
            request.resource_properties[name].as_str().map(str::to_owned).ok_or_else(|| format!("no {name} property"))
        };
        let (secret, verification) = (property("SigningKeysSecretId")?, property("VerificationKeysSecretId")?);
        let done = ensure_signing_keys(&secrets, &secret, &verification).await.map_err(|e| e.to_string())?;
        tracing::info!(kid = %done.kid, created = done.created, "signing keys in place");
        Ok(Done { physical_id, data: serde_json::json!({"Kid": done.kid, "Created": done.created}) })
    })
    .await
}
