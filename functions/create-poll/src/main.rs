//! `POST /v1/polls` (editor, admin) with the poll's settable fields → 201, `Location` and
//! the poll. Honours `Idempotency-Key`.

use std::time::Duration;

use lambda_http::{Request, http::StatusCode, http::header};
use shared::{
    ApiError,
    app::App,
    body, clock, http, idempotency,
    identity::Caller,
    ids,
    manage::poll_response,
    polls::{Poll, Settings},
    store::Store,
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.cors(), app.store(), |store, req| async move {
        let caller = Caller::of(&req)?;
        idempotency::once(&store, "create-poll", &caller.sub, Duration::from_secs(10), &req, || {
            create(&store, &caller, &req)
        })
        .await
    })
    .await
}

async fn create(
    store: &Store,
    caller: &Caller,
    req: &Request,
) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
    let settings: Settings = body::json(req)?;
    let checked = settings.check(clock::epoch_secs())?;
    let poll = Poll::new(ids::random_id(), caller.sub.clone(), &settings, checked, &clock::rfc3339_now());
    store.create_poll(&poll).await?;
    tracing::info!(poll = %poll.id, "poll created");
    http::with_header(poll_response(StatusCode::CREATED, &poll)?, header::LOCATION, &format!("/v1/polls/{}", poll.id))
}
