//! ballot on a laptop. Everything here reads `template.yaml`, so the local stack cannot
//! drift from what `sam deploy` creates:
//! - [`bootstrap`] creates its tables, queues (with redrive) and secrets on moto/LocalStack;
//! - [`gateway`] serves its REST API like API Gateway, invoking the real functions;
//! - [`event_sources`] plays its SQS event-source mappings.

pub mod bootstrap;
pub mod event_sources;
pub mod gateway;
pub mod invoke;
pub mod keys;
pub mod stack;
pub mod template;

/// The account id ARNs carry locally (moto's default account).
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

use std::{sync::Arc, time::Duration};

/// Lambda's limit for one invocation, used for SQS consumers (API routes use API Gateway's 29 s).
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(900);

/// Serves `template`'s API on `listener` and plays its enabled SQS event sources against
/// `stack` (which must already be bootstrapped or discovered), invoking functions at
/// `invoke_url`. Returns the running gateway; everything stops when the runtime does.
pub fn serve(
    template: &template::Template,
    stack: &stack::Stack,
    sqs: aws_sdk_sqs::Client,
    invoke_url: &str,
    listener: tokio::net::TcpListener,
) -> Result<Arc<gateway::Gateway>, Box<dyn std::error::Error + Send + Sync>> {
    let mut pollers = Vec::new();
    for source in template.sqs_event_sources()?.into_iter().filter(|s| s.enabled) {
        let invoker = invoke::Invoker::new(invoke_url, CONSUMER_TIMEOUT);
        pollers.push(event_sources::Poller::new(source, stack, sqs.clone(), invoker)?);
    }
    let served: Vec<String> =
        pollers.iter().map(|p| format!("SQS {} -> {}", p.source.queue, p.source.binary)).collect();
    let gateway = Arc::new(gateway::Gateway::new(template, stack, invoke_url)?.with_event_sources(served));
    for poller in pollers {
        tokio::spawn(poller.run());
    }
    tokio::spawn(Arc::clone(&gateway).serve(listener));
    Ok(gateway)
}
