//! The rules of webhooks:
//! - [`signature`]: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`), and `whsec_` secrets;
//! - [`address`]: which URLs may be registered and which addresses may be connected to
//!   (the SSRF defence that runs at delivery time, on the resolved address);
//! - [`retry`]: when failed deliveries are tried again;
//! - [`register`]: the use case of registering one, over [`Webhooks`].

pub mod address;
pub mod retry;
pub mod signature;

use serde::{Deserialize, Serialize};

use crate::{
    Error, FieldError,
    access::Principal,
    clock::Clock,
    events::EventKind,
    ids, managing,
    ports::{Polls, Result, Webhooks},
};

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
pub fn check_registration(url: &str, events: &[EventKind], allow_http: bool) -> Result<url::Url> {
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

/// Registers `new` on poll `poll_id` as its owner or an admin: the registration's rules
/// first (every mistake named), then ownership, then a fresh secret (`whsec_…`), which is
/// returned with the webhook: it is shown only at creation. The store keeps at most its
/// per-poll number of webhooks (409 beyond).
pub async fn register(
    polls: &impl Polls,
    webhooks: &impl Webhooks,
    clock: &impl Clock,
    caller: &Principal,
    poll_id: &str,
    new: NewWebhook,
    allow_http: bool,
) -> Result<(Webhook, String)> {
    let url = check_registration(&new.url, &new.events, allow_http)?;
    let poll = managing::owned_poll(polls, poll_id, caller).await?.poll;
    let webhook = Webhook {
        id: ids::random_id(),
        url: url.to_string(),
        events: new.events,
        created_at: clock.rfc3339_now(),
        disabled_at: None,
        last_error: None,
    };
    let secret = signature::new_secret();
    webhooks.create_webhook(&poll.id, &webhook, &secret).await?;
    tracing::info!(poll = %poll.id, webhook = %webhook.id, "webhook created");
    Ok((webhook, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        access::{Role, TokenKind},
        clock::Fixed,
        memory::{Memory, NOW, open_poll},
    };

    fn principal(sub: &str, role: Role) -> Principal {
        Principal { sub: sub.into(), roles: vec![role], token_kind: TokenKind::Access }
    }

    fn new(url: &str) -> NewWebhook {
        NewWebhook { url: url.into(), events: vec![EventKind::VoteCast] }
    }

    async fn register_as(memory: &Memory, caller: &Principal, url: &str) -> Result<(Webhook, String)> {
        register(memory, memory, &Fixed::at(NOW), caller, "p1", new(url), false).await
    }

    #[tokio::test]
    async fn given_the_owner_when_registering_then_stored_with_a_fresh_secret_shown_once() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let (webhook, secret) =
            register_as(&memory, &principal("owner", Role::Editor), "https://hooks.example/a").await.unwrap();
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(webhook.created_at, Fixed::at(NOW).rfc3339_now());
        let state = memory.state();
        assert_eq!(state.webhooks, [("p1".to_owned(), webhook, secret)]);
    }

    #[tokio::test]
    async fn given_strangers_bad_fields_or_a_full_poll_when_registering_then_refused_and_nothing_stored() {
        let memory = Memory::with_poll(open_poll(&["Pizza", "Sushi"]));
        let stranger = register_as(&memory, &principal("someone", Role::Editor), "https://hooks.example/a").await;
        assert!(matches!(stranger, Err(Error::Forbidden)), "{stranger:?}");
        let owner = principal("owner", Role::Editor);
        let plain = register_as(&memory, &owner, "http://hooks.example/a").await;
        assert!(matches!(&plain, Err(Error::Validation(e)) if e[0].pointer == "#/url"), "{plain:?}");
        assert!(memory.state().webhooks.is_empty());
        let admin = principal("root", Role::Admin);
        for n in 0..crate::memory::WEBHOOKS_PER_POLL {
            register_as(&memory, &admin, &format!("https://hooks.example/{n}")).await.unwrap();
        }
        let full = register_as(&memory, &owner, "https://hooks.example/more").await;
        assert!(matches!(full, Err(Error::Conflict(_))), "{full:?}");
    }

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
