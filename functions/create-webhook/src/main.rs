//! `POST /v1/polls/{id}/webhooks` `{"url","events"}` (owner or admin) → 201
//! `{"id","url","events","secret","created_at"}` and `Location`. The secret (`whsec_…`)
//! is shown only here; it is stored sealed under the webhook master key. The rules
//! (`https` only unless `WEBHOOK_ALLOW_HTTP`, no user-info, ≤ 2,048 characters; 1 to 4
//! distinct events; at most 5 webhooks per poll) are `ballot_core::managing::register_webhook`.
//! Honours `Idempotency-Key`.

use ballot_core::managing;
use lambda_http::{
    Body, Request, Response,
    http::{StatusCode, header},
};
use shared::{
    ApiError, app::App, aws::secretsmanager, body, clock::System, http, idempotency, identity::caller_of, store::Store,
    webhooks::sealed::SealedWebhooks,
};

struct Deps {
    store: Store,
    webhooks: SealedWebhooks<secretsmanager::Client>,
    allow_http: bool,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let webhooks = SealedWebhooks { store: app.store(), key: app.webhook_key() };
    let deps = Deps { store: app.store(), webhooks, allow_http: app.config.webhooks.allow_http };
    http::serve_with(app.edge(), deps, |deps, req| async move {
        let caller = caller_of(&req)?;
        idempotency::once(&deps.store, "create-webhook", &caller.sub, &req, || create(&deps, &req)).await
    })
    .await
}

async fn create(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let new = body::json(req)?;
    let (caller, poll_id) = (caller_of(req)?, http::path_id(req, "id")?);
    let (webhook, secret) =
        managing::register_webhook(&deps.store, &deps.webhooks, &System, &caller, &poll_id, new, deps.allow_http)
            .await?;
    let body = serde_json::json!({
        "id": webhook.id, "url": webhook.url, "events": webhook.events, "secret": secret, "created_at": webhook.created_at,
    });
    let location = format!("/v1/polls/{poll_id}/webhooks/{}", webhook.id);
    http::with_header(http::json(StatusCode::CREATED, &body)?, header::LOCATION, &location)
}
