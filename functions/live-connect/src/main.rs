//! `$connect` of the WebSocket API: opens a live-results connection, anonymous or with
//! one of ballot's access tokens, verified as the REST authorizer verifies it
//! (`shared::auth::verifier`: signature, claims, the account). Browsers cannot set
//! headers on a WebSocket, so the token comes as a subprotocol —
//! `new WebSocket(url, ["ballot", token])`; the answer echoes `ballot` (a browser aborts
//! a handshake that echoes none of its subprotocols), never the token — or as the
//! `token` query parameter. A bad token is 401; subprotocols without `ballot`, or two
//! tokens, are 400. The token is never logged. The connection is recorded with its
//! watcher, its token's expiry and API Gateway's 2-hour end (`ballot_core::live`); a
//! token's connection is closed when the token expires: `$connect` sends an `expire`
//! message for then to the live queue (delayed, sent again by the pusher while the
//! expiry is beyond SQS's 15 minutes), whose pusher closes the connection through
//! `@connections` and forgets it. A connection whose expiry could not be arranged is
//! refused (500), never left open past its token.

// The future of one connect (verifier → store → SDK) nests deeper than rustc's default
// layout query depth of 128, as the authorizer's does.
#![recursion_limit = "256"]

use ballot_core::{
    access::Principal,
    live::{Connection, LiveMessage, delay_secs},
    ports::{LiveQueue, Watchers},
};
use serde_json::Value;
use shared::{
    app::App,
    auth::verifier::{Refused, Verifier},
    live::{RouteAnswer, RouteEvent},
    pushes::LiveMessages,
    store::Store,
};

/// The subprotocol a client names beside its token.
const PROTOCOL: &str = "ballot";

struct Deps {
    verifier: Verifier,
    store: Store,
    live: LiveMessages,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = App::start().await?;
    let deps = Deps { verifier: app.verifier(), store: app.store(), live: app.live_messages() };
    shared::live::serve(deps, |deps, route| async move { connect(&deps, &route).await }).await
}

async fn connect(deps: &Deps, route: &RouteEvent) -> RouteAnswer {
    let Ok((token, protocol)) = offered(&route.event) else {
        tracing::info!("refused: subprotocols without `ballot`, or two tokens");
        return RouteAnswer::status(400);
    };
    let (watcher, token_expires_at) = match token {
        None => (None, None),
        Some(token) => match deps.verifier.verify(token).await {
            Ok(v) => {
                (Some(Principal { sub: v.sub, roles: v.roles, token_kind: v.kind, email_verified: false }), Some(v.exp))
            }
            Err(Refused::Token) => return RouteAnswer::status(401),
            Err(Refused::Unavailable(_)) => return RouteAnswer::status(500),
        },
    };
    let now_ms = ballot_core::clock::epoch_ms();
    let connection = Connection::opened(&route.connection_id, watcher, token_expires_at, now_ms / 1000);
    if let Err(err) = deps.store.connected(&connection).await {
        tracing::error!(error = %err, "connection not recorded");
        return RouteAnswer::status(500);
    }
    if let Some(at) = token_expires_at {
        let expire = LiveMessage::Expire { connection_id: route.connection_id.clone(), at };
        if let Err(err) = deps.live.send_live(&expire, delay_secs(now_ms, at * 1000)).await {
            tracing::error!(error = %err, "the token's expiry not arranged: connection refused");
            return RouteAnswer::status(500);
        }
    }
    tracing::info!(connection = %route.connection_id, anonymous = connection.watcher.is_none(), "connected");
    let mut answer = RouteAnswer::ok();
    if protocol {
        answer.headers.push(("Sec-WebSocket-Protocol".into(), PROTOCOL.into()));
    }
    answer
}

/// The token the handshake offers (a subprotocol beside `ballot`, or the `token` query
/// parameter) and whether it named `ballot`; `Err` for a list without `ballot` or with
/// two tokens.
fn offered(event: &Value) -> Result<(Option<&str>, bool), ()> {
    // Every line of the header (`multiValueHeaders`; `headers` keeps only the last).
    let named = |map: &str| {
        let map = event[map].as_object();
        map.into_iter().flatten().find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol")).map(|(_, v)| v)
    };
    let lines: Vec<&str> = match named("multiValueHeaders").and_then(Value::as_array) {
        Some(lines) => lines.iter().filter_map(Value::as_str).collect(),
        None => named("headers").and_then(Value::as_str).into_iter().collect(),
    };
    let protocols: Vec<&str> =
        lines.into_iter().flat_map(|h| h.split(',')).map(str::trim).filter(|p| !p.is_empty()).collect();
    let query = event["queryStringParameters"]["token"].as_str().filter(|t| !t.is_empty());
    if protocols.is_empty() {
        return Ok((query, false));
    }
    if !protocols.contains(&PROTOCOL) {
        return Err(());
    }
    let tokens: Vec<&str> = protocols.into_iter().filter(|p| *p != PROTOCOL).collect();
    match (tokens.as_slice(), query) {
        ([], query) => Ok((query, true)),
        ([token], None) => Ok((Some(token), true)),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(protocols: Option<&str>, query: Option<&str>) -> Value {
        let mut event = json!({"headers": {}, "queryStringParameters": null});
        if let Some(p) = protocols {
            event["headers"]["Sec-WebSocket-Protocol"] = json!(p);
        }
        if let Some(q) = query {
            event["queryStringParameters"] = json!({"token": q});
        }
        event
    }

    #[test]
    fn given_handshakes_then_the_token_comes_from_the_subprotocols_or_the_query() {
        assert_eq!(offered(&event(None, None)), Ok((None, false)), "anonymous");
        assert_eq!(offered(&event(Some("ballot"), None)), Ok((None, true)));
        assert_eq!(offered(&event(Some("ballot, a.b.c"), None)), Ok((Some("a.b.c"), true)));
        assert_eq!(offered(&event(None, Some("a.b.c"))), Ok((Some("a.b.c"), false)));
        assert_eq!(offered(&event(Some("a.b.c"), None)), Err(()), "no `ballot` to echo");
        assert_eq!(offered(&event(Some("ballot, a.b.c, d.e.f"), None)), Err(()), "two tokens");
        assert_eq!(offered(&event(Some("ballot, a.b.c"), Some("d.e.f"))), Err(()), "two tokens");
        let lines = json!({"multiValueHeaders": {"sec-websocket-protocol": ["ballot", "a.b.c"]},
            "headers": {"sec-websocket-protocol": "a.b.c"}});
        assert_eq!(offered(&lines), Ok((Some("a.b.c"), true)), "one subprotocol a header line");
    }
}
