//! Webhooks (issue 5):
//! - [`signature`]: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`), and `whsec_` secrets;
//! - [`address`]: which URLs may be registered and which addresses may be connected to
//!   (the SSRF defence that runs at delivery time, on the resolved address);
//! - [`sealed`]: webhook secrets encrypted at rest under the webhook master key;
//! - [`delivery`]: the deliveries queue's messages, the fan-out of an event to them, and
//!   the retry schedule;
//! - [`sender`] and [`deliverer`] (feature `webhook-delivery`): the HTTP request of one
//!   delivery, and the consumer that sends each delivery once, retries and records.

pub mod address;
#[cfg(feature = "webhook-delivery")]
pub mod deliverer;
pub mod delivery;
pub mod sealed;
#[cfg(feature = "webhook-delivery")]
pub mod sender;
pub mod signature;
