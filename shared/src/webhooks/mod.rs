//! Webhooks (issue 5):
//! - their rules (address policy, signatures) are `ballot_core::webhooks`;
//! - [`sealed`]: webhook secrets encrypted at rest under the webhook master key;
//! - [`delivery`]: the deliveries queue's messages, the fan-out of an event to them, and
//!   the retry schedule;
//! - [`sender`] and [`deliverer`] (feature `webhook-delivery`): the HTTP request of one
//!   delivery, and the consumer that sends each delivery once, retries and records.

#[cfg(feature = "webhook-delivery")]
pub mod deliverer;
pub mod delivery;
pub mod sealed;
#[cfg(feature = "webhook-delivery")]
pub mod sender;
