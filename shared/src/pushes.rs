//! Live results' adapters: the live queue ([`ballot_core::ports::LiveQueue`] on SQS) and,
//! with the `live-push` feature, the WebSocket API's `@connections` management API
//! ([`ballot_core::ports::Connections`] through `aws-sdk-apigatewaymanagement`, its
//! endpoint switched to the API's, in AWS and locally alike).

use ballot_core::{Error, live::LiveMessage};

/// Sends messages to the live queue.
#[derive(Debug, Clone)]
pub struct LiveMessages {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl LiveMessages {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { sqs, queue_url }
    }
}

impl ballot_core::ports::LiveQueue for LiveMessages {
    async fn send_live(&self, message: &LiveMessage, delay_secs: u32) -> Result<(), Error> {
        let body = serde_json::to_string(message).map_err(Error::internal)?;
        let delay = i32::try_from(delay_secs).unwrap_or(i32::MAX);
        let send = self.sqs.send_message().queue_url(&self.queue_url).message_body(body).delay_seconds(delay);
        send.send().await.map_err(|err| Error::Unavailable(crate::aws::DisplayErrorContext(err).to_string()))?;
        Ok(())
    }
}

#[cfg(feature = "live-push")]
pub use management::ManagementApi;

#[cfg(feature = "live-push")]
mod management {
    use aws_sdk_apigatewaymanagement::{
        Client,
        operation::{delete_connection::DeleteConnectionError, post_to_connection::PostToConnectionError},
        primitives::Blob,
    };
    use ballot_core::Error;

    use crate::aws::DisplayErrorContext;

    /// The `@connections` API of the WebSocket API (client built once per cold start).
    #[derive(Debug, Clone)]
    pub struct ManagementApi {
        client: Client,
    }

    impl ManagementApi {
        /// A client of the management endpoint `url` (`https://<api host>/<stage>`).
        pub fn new(sdk: &aws_config::SdkConfig, url: &str) -> Self {
            let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk).endpoint_url(url).build();
            Self { client: Client::from_conf(config) }
        }
    }

    impl ballot_core::ports::Connections for ManagementApi {
        async fn post(&self, id: &str, frame: &str) -> Result<bool, Error> {
            let post = self.client.post_to_connection().connection_id(id).data(Blob::new(frame.as_bytes()));
            match post.send().await {
                Ok(_) => Ok(true),
                Err(err) if matches!(err.as_service_error(), Some(PostToConnectionError::GoneException(_))) => {
                    Ok(false)
                }
                Err(err) => Err(Error::Unavailable(DisplayErrorContext(err).to_string())),
            }
        }

        async fn close(&self, id: &str) -> Result<(), Error> {
            match self.client.delete_connection().connection_id(id).send().await {
                Ok(_) => Ok(()),
                Err(err) if matches!(err.as_service_error(), Some(DeleteConnectionError::GoneException(_))) => Ok(()),
                Err(err) => Err(Error::Unavailable(DisplayErrorContext(err).to_string())),
            }
        }
    }
}
