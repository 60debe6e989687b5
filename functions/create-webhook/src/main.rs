//! `POST /v1/polls/{id}/webhooks` `{"url","events"}` (owner or admin) → 201
//! `{"id","url","events","secret","created_at"}` and `Location`. The secret (`whsec_…`)
//! is shown only here; it is stored sealed under the webhook master key. `https` only
//! (unless `WEBHOOK_ALLOW_HTTP`), no user-info, ≤ 2,048 characters; 1 to 4 distinct
//! events; at most 5 webhooks per poll (409). Honours `Idempotency-Key`.

use std::time::Duration;

use lambda_http::{
    Body, Request, Response,
    http::{StatusCode, header},
};
use serde::Deserialize;
use shared::{
    ApiError, FieldError,
    app::App,
    aws::secretsmanager,
    body, clock,
    events::EventKind,
    http, idempotency,
    identity::Caller,
    ids,
    manage::owned_poll,
    secrets::Parsed,
    store::{Store, webhooks::Webhook},
    webhooks::{address::check_url, sealed::SealKey, signature::new_secret},
};

/// The rules need the configuration (http allowed or not): checked in `create`.
#[derive(Debug, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    events: Vec<EventKind>,
}

struct Deps {
    store: Store,
    key: Parsed<secretsmanager::Client, SealKey>,
    allow_http: bool,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), key: app.webhook_key(), allow_http: app.config.webhooks.allow_http };
    http::serve_with(app.cors(), deps, |deps, req| async move {
        let caller = Caller::of(&req)?;
        idempotency::once(&deps.store, "create-webhook", &caller.sub, Duration::from_secs(10), &req, || {
            create(&deps, &req)
        })
        .await
    })
    .await
}

async fn create(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let new: NewWebhook = body::json(req)?;
    let mut errors = Vec::new();
    let url = check_url(&new.url, deps.allow_http).map_err(|e| errors.push(FieldError::new("#/url", e))).ok();
    if new.events.is_empty()
        || new.events.len() > 4
        || new.events.iter().enumerate().any(|(i, e)| new.events[..i].contains(e))
    {
        errors.push(FieldError::new("#/events", "must list 1 to 4 distinct event types"));
    }
    let Some(url) = url.filter(|_| errors.is_empty()) else { return Err(ApiError::Validation(errors)) };
    let poll = owned_poll(&deps.store, req).await?;
    let webhook = Webhook {
        id: ids::random_id(),
        url: url.to_string(),
        events: new.events,
        created_at: clock::rfc3339_now(),
        disabled_at: None,
        last_error: None,
    };
    let secret = new_secret();
    let sealed = deps.key.get().await?.seal(&secret, &webhook.id)?;
    deps.store.create_webhook(&poll.id, &webhook, sealed).await?;
    tracing::info!(poll = %poll.id, webhook = %webhook.id, "webhook created");
    let body = serde_json::json!({
        "id": webhook.id, "url": webhook.url, "events": webhook.events, "secret": secret, "created_at": webhook.created_at,
    });
    let location = format!("/v1/polls/{}/webhooks/{}", poll.id, webhook.id);
    http::with_header(http::json(StatusCode::CREATED, &body)?, header::LOCATION, &location)
}
