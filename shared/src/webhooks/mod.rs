//! Webhooks (issue 5), the parts that are settled and tested on their own so far:
//! - [`signature`]: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`), and `whsec_` secrets;
//! - [`address`]: which URLs may be registered and which addresses may be connected to
//!   (the SSRF defence that runs at delivery time, on the resolved address).
//!
//! Delivery, retries and the routes come next; nothing calls these yet.

pub mod address;
pub mod signature;
