//! Live results through the local gateway's WebSocket API, with a real WebSocket client:
//! who may watch (anonymous for results everyone sees; a token, as a subprotocol beside
//! `ballot` or as the `token` query parameter, for the rest; forged and expired tokens
//! refused at the handshake), the first frame equal to `GET …/results`, refusals as error
//! frames, ping/pong keeping a quiet connection past the idle timeout (shortened to 5 s
//! by `make test`), and clear errors for what no route takes.

use std::time::Duration;

use ballot_core::access::Role;
use ballot_tests::{call, guest_tokens, local_keys, required_env, token_for, token_settings};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The WebSocket API's URL (its stage is the template's default, `prod`).
fn live_url() -> String {
    format!("{}/prod", required_env("BALLOT_WS_URL"))
}

/// Connects with `protocols` offered (`Sec-WebSocket-Protocol`) and `query`; the socket
/// and the subprotocol the server chose, or the handshake's refusal status.
async fn connect(protocols: &[&str], query: &str) -> Result<(Socket, Option<String>), u16> {
    let mut request = format!("{}{query}", live_url()).into_client_request().unwrap();
    if !protocols.is_empty() {
        request.headers_mut().insert("sec-websocket-protocol", protocols.join(", ").parse().unwrap());
    }
    match connect_async(request).await {
        Ok((socket, response)) => {
            let chosen = response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
            Ok((socket, chosen))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

async fn anonymous() -> Socket {
    connect(&[], "").await.expect("an anonymous connection").0
}

/// Sends `frame` and reads the next text frame, as JSON.
async fn ask(socket: &mut Socket, frame: Value) -> Value {
    socket.send(Message::text(frame.to_string())).await.unwrap();
    next_frame(socket).await
}

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("a frame in time");
        match message.expect("the connection is open").unwrap() {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// A new poll of a new editor with `settings` (merged into a two-option poll).
async fn poll(settings: Value) -> (String, String, String) {
    let owner = token_for(&[Role::Editor]).await;
    let mut body = json!({"question": "Live?", "options": [{"text": "a"}, {"text": "b"}], "allow_guests": true});
    body.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    (owner, poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned())
}

fn subscribe(poll_id: &str) -> Value {
    json!({"action": "subscribe", "poll_id": poll_id})
}

#[tokio::test]
async fn given_a_poll_whose_results_everyone_sees_when_an_anonymous_watcher_subscribes_then_its_first_frame_is_get_results()
 {
    let (owner, id, option) = poll(json!({"results_visibility": "always"})).await;
    let voter = guest_tokens(1).await.remove(0);
    let vote = call("POST", &format!("/v1/polls/{id}/votes"), &voter).json(&json!({"option_ids": [option]}));
    assert_eq!(vote.send().await.unwrap().status(), 201);
    ballot_tests::assert_recounted(&id).await;

    let mut socket = anonymous().await;
    let frame = ask(&mut socket, subscribe(&id)).await;
    let response = call("GET", &format!("/v1/polls/{id}/results"), &owner).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let mut results: Value = response.json().await.unwrap();
    assert_eq!((frame["type"].as_str(), frame["poll_id"].as_str()), (Some("results"), Some(id.as_str())));
    assert_eq!(frame["etag"], etag.as_str(), "the ETag of GET …/results");
    let mut pushed = frame["results"].clone();
    for body in [&mut results, &mut pushed] {
        body.as_object_mut().unwrap().remove("as_of"); // when each was read
    }
    assert_eq!(pushed, results, "the body of GET …/results");
    assert_eq!(frame["results"]["total_ballots"], 1);
}

#[tokio::test]
async fn given_an_after_vote_poll_then_an_anonymous_watcher_is_refused_and_a_voter_watches_once_voted() {
    let (_, id, option) = poll(json!({"results_visibility": "after_vote"})).await;
    let mut socket = anonymous().await;
    let refused = ask(&mut socket, subscribe(&id)).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["poll_id"], id.as_str());
    assert_eq!(refused["problem"]["status"], 403);
    assert_eq!(refused["problem"]["type"], "urn:ballot:problem:results-hidden");

    let voter = guest_tokens(1).await.remove(0);
    let (mut socket, chosen) = connect(&["ballot", &voter], "").await.expect("a token holder connects");
    assert_eq!(chosen.as_deref(), Some("ballot"), "the server echoes `ballot`, never the token");
    assert_eq!(ask(&mut socket, subscribe(&id)).await["problem"]["status"], 403, "not voted yet");
    let vote = call("POST", &format!("/v1/polls/{id}/votes"), &voter).json(&json!({"option_ids": [option]}));
    assert_eq!(vote.send().await.unwrap().status(), 201);
    let frame = ask(&mut socket, subscribe(&id)).await;
    assert_eq!(frame["type"], "results", "{frame}");

    // The same watcher by the query parameter.
    let (mut socket, chosen) = connect(&[], &format!("?token={voter}")).await.expect("a token in the query");
    assert_eq!(chosen, None);
    assert_eq!(ask(&mut socket, subscribe(&id)).await["type"], "results");
}

#[tokio::test]
async fn given_forged_expired_or_misplaced_tokens_then_the_handshake_is_refused() {
    let voter = guest_tokens(1).await.remove(0);
    let (head, rest) = voter.split_once('.').unwrap();
    let forged = format!("{head}.{}", rest.replace(|c: char| c.is_ascii_digit(), "A"));
    assert_eq!(connect(&["ballot", &forged], "").await.err(), Some(401), "a forged token");

    let keys = local_keys().await;
    let (kid, key) = keys.signer().unwrap();
    let settings = token_settings();
    let t = shared::auth::token::now();
    let claims = json!({"iss": settings.issuer, "aud": settings.audience, "sub": "expired-guest", "exp": t - 120,
        "nbf": t - 900, "iat": t - 900, "jti": "j", "roles": ["guest"], "kind": "guest"});
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
    let header: jsonwebtoken::Header = serde_json::from_value(header).unwrap();
    let expired = jsonwebtoken::encode(&header, &claims, key).unwrap();
    assert_eq!(connect(&["ballot", &expired], "").await.err(), Some(401), "an expired token");

    assert_eq!(connect(&[&voter], "").await.err(), Some(400), "a token without `ballot` to echo");
    let two = format!("?token={voter}");
    assert_eq!(connect(&["ballot", &voter], &two).await.err(), Some(400), "two tokens");
}

#[tokio::test]
async fn given_pings_and_strange_messages_then_pongs_and_clear_error_frames() {
    let mut socket = anonymous().await;
    assert_eq!(ask(&mut socket, json!({"action": "ping"})).await, json!({"type": "pong"}));
    for strange in [json!({"action": "shout"}), json!({"no": "action"}), json!({"action": "subscribe"})] {
        let frame = ask(&mut socket, strange.clone()).await;
        assert_eq!(frame["type"], "error", "{strange}: {frame}");
        assert_eq!(frame["problem"]["status"], 400, "{strange}: {frame}");
        assert!(frame["problem"]["detail"].as_str().unwrap().contains("action"), "{frame}");
    }
    socket.send(Message::text("{not json")).await.unwrap();
    assert_eq!(next_frame(&mut socket).await["problem"]["status"], 400);
    let unknown = ask(&mut socket, subscribe("no-such-poll")).await;
    assert_eq!((unknown["problem"]["status"].as_u64(), unknown["poll_id"].as_str()), (Some(404), Some("no-such-poll")));
}

#[tokio::test]
async fn given_the_idle_timeout_then_a_pinging_connection_stays_and_a_quiet_one_is_closed() {
    let idle: u64 = required_env("BALLOT_WS_IDLE_SECS").parse().unwrap();
    let (mut pinging, mut quiet) = (anonymous().await, anonymous().await);
    let until = tokio::time::Instant::now() + Duration::from_secs(idle * 2 + 1);
    while tokio::time::Instant::now() < until {
        assert_eq!(ask(&mut pinging, json!({"action": "ping"})).await["type"], "pong");
        tokio::time::sleep(Duration::from_secs(idle / 3).max(Duration::from_millis(500))).await;
    }
    let closed = tokio::time::timeout(Duration::from_secs(5), quiet.next()).await.expect("closed by now");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001, "going away"),
        other => panic!("the quiet connection was not closed as API Gateway does: {other:?}"),
    }
    assert_eq!(ask(&mut pinging, json!({"action": "ping"})).await["type"], "pong", "the pinging one is open");
}
