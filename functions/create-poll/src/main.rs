//! `POST /v1/polls` (editor, admin) with the poll's settable fields → 201, `Location` and
//! the poll. Honours `Idempotency-Key`. A `closes_at` is scheduled before the poll is
//! written (`ballot_core::managing::create_poll`), so no committed poll lacks its
//! closing schedule.

use ballot_core::{access::Principal, managing::create_poll, polls::Settings};
use lambda_http::{Request, http::StatusCode, http::header};
use shared::{
    ApiError, app::App, body, clock::System, closing::Schedules, http, idempotency, identity::caller_of,
    manage::poll_response, store::Store,
};

struct Deps {
    store: Store,
    schedules: Schedules,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = Deps { store: app.store(), schedules: app.schedules() };
    http::serve_with(app.edge(), deps, |deps, req| async move {
        let caller = caller_of(&req)?;
        idempotency::once(&deps.store, "create-poll", &caller.sub, &req, || create(&deps, &caller, &req)).await
    })
    .await
}

async fn create(
    deps: &Deps,
    caller: &Principal,
    req: &Request,
) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let settings: Settings = body::json(req)?;
    let poll = create_poll(&deps.store, &deps.schedules, &System, caller, &settings).await?;
    tracing::info!(poll = %poll.id, "poll created");
    http::with_header(poll_response(StatusCode::CREATED, &poll)?, header::LOCATION, &format!("/v1/polls/{}", poll.id))
}
