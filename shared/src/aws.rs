//! AWS clients, built once per cold start and shared by every invocation.

use std::time::Duration;

use aws_config::{BehaviorVersion, retry::RetryConfig, timeout::TimeoutConfig};

/// The clients a ballot function may use. All share one HTTP connection pool.
///
/// Endpoint, region and credentials come from the standard AWS environment
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, …), so pointing at moto or LocalStack changes no code.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The loaded configuration, for the clients only some functions build.
    pub sdk: aws_config::SdkConfig,
}

impl AwsClients {
    /// Loads the shared SDK configuration with timeouts sized for a Lambda with a 10 s budget:
    /// a dependency that does not answer fails the request quickly instead of hanging it.
    pub async fn from_env() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .load()
            .await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sdk,
        }
    }
}

/// The SDK crates, re-exported so function crates depend on `shared` alone.
pub use aws_sdk_dynamodb as dynamodb;
pub use aws_sdk_secretsmanager as secretsmanager;
pub use aws_sdk_sqs as sqs;
/// Renders any SDK error with its whole cause chain, for logs only (every SDK crate
/// re-exports this same smithy type).
pub use aws_sdk_sqs::error::DisplayErrorContext;
