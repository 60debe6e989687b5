//! The rules of webhooks:
//! - [`signature`]: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`), and `whsec_` secrets;
//! - [`address`]: which URLs may be registered and which addresses may be connected to
//!   (the SSRF defence that runs at delivery time, on the resolved address);
//! - [`retry`]: when failed deliveries are tried again.
//!
//! Registering one is the use case `crate::managing::register_webhook`.

pub mod address;
pub mod retry;
pub mod signature;

use serde::{Deserialize, Serialize};

use crate::{Error, FieldError, events::EventKind};

/// A webhook as its owner sees it (never with its secret, which is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<EventKind>,
    pub created_at: String,
    /// Set when deliveries kept failing; the endpoint gets nothing more.
    #[serde(default)]
    pub disabled_at: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The body of `POST /v1/polls/{id}/webhooks`; its rules need the configuration (http
/// allowed or not), so they are [`check_registration`], not validators.
#[derive(Debug, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<EventKind>,
}

/// Event types a webhook may subscribe to at once.
pub const EVENTS_MAX: usize = 4;

/// The rules of registering a webhook at `url` for `events`, all checked at once so a
/// client sees every mistake: the URL passes [`address::check_url`] (`http` only where
/// `allow_http`), and `events` lists 1 to [`EVENTS_MAX`] distinct types. The parsed URL.
pub fn check_registration(url: &str, events: &[EventKind], allow_http: bool) -> Result<url::Url, Error> {
    let mut errors = Vec::new();
    let url = address::check_url(url, allow_http).map_err(|e| errors.push(FieldError::new("#/url", e))).ok();
    let distinct = events.iter().enumerate().all(|(i, e)| !events[..i].contains(e));
    if events.is_empty() || events.len() > EVENTS_MAX || !distinct {
        errors.push(FieldError::new("#/events", format!("must list 1 to {EVENTS_MAX} distinct event types")));
    }
    match url {
        Some(url) if errors.is_empty() => Ok(url),
        _ => Err(Error::Validation(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn given_a_registration_when_checked_then_every_mistake_is_named() {
        let ok = check_registration("https://hooks.example/x", &[EventKind::VoteCast], false);
        assert_eq!(ok.unwrap().as_str(), "https://hooks.example/x");
        let both = check_registration("http://hooks.example/x", &[EventKind::VoteCast, EventKind::VoteCast], false);
        let Err(Error::Validation(errors)) = both else { panic!("refused") };
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["#/url", "#/events"]);
        assert!(check_registration("http://hooks.example/x", &[EventKind::PollClosed], true).is_ok());
        assert!(check_registration("https://hooks.example/x", &[], false).is_err());
    }
}
