//! `PATCH /v1/polls/{id}` (owner or admin) with `If-Match: "<version>"` and any settable
//! fields → 200 the poll. A stale version → 412, none → 428. The rules, and the closing
//! schedule of a new `closes_at` (put before the write, older ones removed after), are
//! `ballot_core::managing::update_poll`.

use ballot_core::{managing::update_poll, polls::Change};
use lambda_http::http::StatusCode;
use shared::{
    app::App, body, clock::System, closing::Schedules, http, identity::caller_of, manage::poll_response, store::Store,
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
        let change: Change = body::json(&req)?;
        let version = http::if_match_version(&req)?;
        let (caller, id) = (caller_of(&req)?, http::path_id(&req, "id")?);
        let poll = update_poll(&deps.store, &deps.schedules, &System, &id, &caller, version, &change).await?;
        tracing::info!(poll = %poll.id, version = poll.version, "poll changed");
        poll_response(StatusCode::OK, &poll)
    })
    .await
}
