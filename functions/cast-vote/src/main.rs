//! `POST /v1/polls/{id}/votes` `{"option_ids": [...]}` (any role; guests where the poll
//! allows them) → 201 a new ballot, 200 a changed one (or the same picks again)
//! `{"poll_id","option_ids","cast_at"}`, and `vote.cast` / `vote.changed` on the events
//! queue. The rules and the retry loop are `ballot_core::voting::cast_vote`; one ballot
//! per voter, counted exactly once (`shared::store::ballots`). Changing needs
//! `allow_vote_change` (else 409); a closed poll → 409; unknown or repeated options or
//! the wrong number of picks → 400. Honours `Idempotency-Key`.

use ballot_core::{
    access::Principal,
    ballots::{CastKind, Voter},
    voting::cast_vote,
};
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;
use shared::{ApiError, app::App, body, clock::System, http, idempotency, identity::caller_of};

/// Picks are checked against the poll (`Poll::check_ballot`), not here.
#[derive(Debug, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct Vote {
    option_ids: Vec<String>,
}

type Deps = shared::app::Writer;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let deps = app.writer();
    http::serve_with(app.cors(), deps, |deps, req| async move {
        let caller = caller_of(&req)?;
        idempotency::once(&deps.store, "cast-vote", &caller.sub, &req, || cast(&deps, &caller, &req)).await
    })
    .await
}

async fn cast(deps: &Deps, caller: &Principal, req: &Request) -> Result<Response<Body>, ApiError> {
    let poll_id = http::path_id(req, "id")?;
    let vote: Vote = body::json(req)?;
    let voter = Voter { sub: &caller.sub, guest: caller.is_guest() };
    let store = &deps.store;
    let cast = cast_vote(store, store, &deps.events, &System, &poll_id, voter, &vote.option_ids).await?;
    let status = if cast.kind == CastKind::New { StatusCode::CREATED } else { StatusCode::OK };
    http::json(status, &cast.ballot)
}
