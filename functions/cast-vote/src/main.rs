//! `POST /v1/polls/{id}/votes` `{"option_ids": [...]}` (any role; guests where the poll
//! allows them) → 201 a new ballot, 200 a changed one (or the same picks again)
//! `{"poll_id","option_ids","cast_at"}`. The rules and the retry loop are
//! `ballot_core::voting::cast_vote`; one ballot per voter, one write
//! (`shared::store::ballots`), counted by the stream tally, which also relays `vote.cast`
//! / `vote.changed`; the poll is read through a copy cached for at most a second
//! (`shared::poll_cache`). Changing needs
//! `allow_vote_change` (else 409); a closed poll → 409; unknown or repeated options or
//! the wrong number of picks → 400. Honours `Idempotency-Key`.

use ballot_core::{
    access::Principal,
    ballots::{CastKind, Voter},
    voting::cast_vote,
};
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;
use shared::{
    ApiError,
    app::App,
    body,
    clock::System,
    http, idempotency,
    identity::caller_of,
    metrics::{self, Metric},
    poll_cache::PollCache,
    store::Store,
};

/// Picks are checked against the poll (`Poll::check_ballot`), not here.
#[derive(Debug, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct Vote {
    option_ids: Vec<String>,
}

struct Deps {
    store: Store,
    /// Kept for the life of the warm function.
    polls: PollCache<Store>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    let store = app.store();
    let deps = Deps { polls: PollCache::new(store.clone()), store };
    http::serve_with(app.edge(), deps, |deps, req| async move {
        let caller = caller_of(&req)?;
        idempotency::once(&deps.store, "cast-vote", &caller.sub, &req, || cast(&deps, &caller, &req)).await
    })
    .await
}

async fn cast(deps: &Deps, caller: &Principal, req: &Request) -> Result<Response<Body>, ApiError> {
    let poll_id = http::path_id(req, "id")?;
    let vote: Vote = body::json(req)?;
    let voter = Voter { sub: &caller.sub, guest: caller.is_guest(), verified: caller.email_verified };
    let cast = cast_vote(&deps.polls, &deps.store, &System, &poll_id, voter, &vote.option_ids).await?;
    let status = match cast.kind {
        CastKind::New => {
            metrics::count(Metric::VotesCast, 1);
            StatusCode::CREATED
        }
        CastKind::Changed => {
            metrics::count(Metric::VotesChanged, 1);
            StatusCode::OK
        }
        CastKind::Same => StatusCode::OK,
    };
    http::json(status, &cast.ballot)
}
