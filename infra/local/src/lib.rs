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
