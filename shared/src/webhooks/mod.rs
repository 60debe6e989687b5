//! Webhooks (issue 5), the parts that are settled and tested on their own so far:
//! - [`signature`]: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`), and `whsec_` secrets;
//! - [`address`]: which URLs may be registered and which addresses may be connected to
//!   (the SSRF defence that runs at delivery time, on the resolved address).
//!
//! - [`sealed`]: webhook secrets encrypted at rest under the webhook master key.
//!
//! The routes (`create-webhook`, `list-webhooks`, `delete-webhook`) use them; delivery,
//! retries and the SSRF check at delivery time come next.

pub mod address;
pub mod sealed;
pub mod signature;
