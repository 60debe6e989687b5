//! `POST /v1/polls/{id}/webhooks` `{"url","events"}` (owner or admin) → 201
//! `{"id","url","events","secret","created_at"}` and `Location`. The secret (`whsec_…`)
//! is shown only here; it is stored sealed under the webhook master key. `https` only
//! (unless `WEBHOOK_ALLOW_HTTP`), no user-info, ≤ 2,048 characters; 1 to 4 distinct
//! events; at most 5 webhooks per poll (409). Honours `Idempotency-Key`.

use ballot_core::events::EventKind;
use ballot_core::webhooks::{check_registration, signature::new_secret};
use ballot_core::{clock, ids};
use lambda_http::{
    Body, Request, Response,
    http::{StatusCode, header},
};
use serde::Deserialize;
use shared::{
    ApiError,
    app::App,
    aws::secretsmanager,
    body, http, idempotency,
    identity::caller_of,
    manage::owned_poll,
    secrets::Parsed,
    store::{Store, webhooks::Webhook},
    webhooks::sealed::SealKey,
};

/// The rules need the configuration (http allowed or not): `check_registration`.
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
        let caller = caller_of(&req)?;
        idempotency::once(&deps.store, "create-webhook", &caller.sub, &req, || create(&deps, &req)).await
    })
    .await
}

async fn create(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let new: NewWebhook = body::json(req)?;
    let url = check_registration(&new.url, &new.events, deps.allow_http)?;
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
