//! Webhook deliveries end to end: a vote through the local gateway, the tally's relay of
//! its event from the stream, the events consumer's fan-out, the deliveries consumer's signed request to a receiver in this test, its
//! retries, the SSRF refusals, and de-duplication of a repeated event.

use std::time::Duration;

use ballot_core::{access::Role, webhooks::signature};
use ballot_tests::{Receiver, call, register_webhook as register, token_for_account, vote_as_new_viewer as vote};
use serde_json::{Value, json};

/// A poll of a new editor: (owner token, poll id, first option id).
async fn new_poll() -> (String, String, String) {
    let (owner, poll) = new_poll_with(json!({})).await;
    (owner, poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned())
}

/// A poll of a new editor with `settings` over two options: (owner token, the poll).
async fn new_poll_with(settings: Value) -> (String, Value) {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let mut body = json!({"question": "Deliver?", "options": [{"text": "a"}, {"text": "b"}]});
    body.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    (owner, poll)
}

async fn webhooks(owner: &str, poll: &str) -> Vec<Value> {
    let body: Value =
        call("GET", &format!("/v1/polls/{poll}/webhooks"), owner).send().await.unwrap().json().await.unwrap();
    body["webhooks"].as_array().cloned().unwrap_or_else(|| panic!("a list of webhooks: {body}"))
}

/// A `vote.cast` event of `poll`, with an id of its own.
fn vote_event(poll: &str) -> ballot_core::events::Event {
    ballot_core::events::Event {
        id: format!("evt_{}", ballot_core::ids::random_id()),
        kind: ballot_core::events::EventKind::VoteCast,
        poll_id: poll.to_owned(),
        occurred_at: ballot_core::clock::rfc3339_now(),
        data: json!({"option_ids": ["o"], "cast_at": ballot_core::clock::rfc3339_now()}),
    }
}

/// Puts `events` on the local stack's events queue, as the functions publish them.
async fn publish(events: &[ballot_core::events::Event]) {
    let sqs = ballot_local::bootstrap::Clients::from_env().await.sqs;
    let queue = ballot_tests::events_queue_url(&sqs).await;
    for event in events {
        sqs.send_message().queue_url(&queue).message_body(serde_json::to_string(event).unwrap()).send().await.unwrap();
    }
}

#[tokio::test]
async fn given_a_vote_then_the_receiver_gets_vote_cast_signed_with_the_webhook_secret() {
    let receiver = Receiver::start(&[204]).await;
    let (owner, poll, option) = new_poll().await;
    let (_, secret) = register(&owner, &poll, &receiver.url, &["vote.cast"]).await;
    vote(&poll, &option).await;

    let requests = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(requests.len(), 1, "one delivery");
    let request = &requests[0];
    let (id, timestamp) =
        (&request.headers["webhook-id"], request.headers["webhook-timestamp"].parse::<u64>().unwrap());
    let now = ballot_core::clock::epoch_secs();
    assert!(signature::verify(&secret, id, timestamp, &request.body, &request.headers["webhook-signature"], now));
    let event: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["poll_id"].as_str(), event["id"].as_str()),
        (Some("vote.cast"), Some(poll.as_str()), Some(id.as_str()))
    );
    assert_eq!(event["data"]["option_ids"], json!([option]));

    let mut tampered = request.body.clone();
    tampered.extend_from_slice(b" ");
    assert!(!signature::verify(&secret, id, timestamp, &tampered, &request.headers["webhook-signature"], now));
    assert!(!signature::verify(
        &signature::new_secret(),
        id,
        timestamp,
        &request.body,
        &request.headers["webhook-signature"],
        now
    ));
}

/// A poll's owner knows voters' ids (`owner_id` of their own polls): an event id made
/// of poll, voter and version would let it test whether, and how, one of them voted.
/// One voter changing its vote on two polls: four ids, none of them such a function.
#[tokio::test]
async fn given_a_voter_on_two_polls_then_no_event_id_is_a_function_of_poll_voter_and_version() {
    let receiver = Receiver::start(&[204]).await;
    let (voter, sub) = token_for_account(&[Role::Viewer]).await;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..2 {
        let (owner, created) = new_poll_with(json!({"allow_vote_change": true})).await;
        let poll = created["id"].as_str().unwrap().to_owned();
        register(&owner, &poll, &receiver.url, &["vote.cast", "vote.changed"]).await;
        let options: Value =
            call("GET", &format!("/v1/polls/{poll}"), &owner).send().await.unwrap().json().await.unwrap();
        for option in [&options["options"][0]["id"], &options["options"][1]["id"]] {
            let body = json!({"option_ids": [option]});
            let answer = call("POST", &format!("/v1/polls/{poll}/votes"), &voter).json(&body).send().await.unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
        }
        for version in 1..=2 {
            // What the id was before: `evt_` and SHA-256 of the ballot's version, spelled out.
            ids.push(ballot_core::events::stable_id(&format!("ballot\n{poll}\n{sub}\n{version}")));
        }
    }
    let requests = receiver.wait_for(4, Duration::from_secs(30)).await;
    let seen: std::collections::HashSet<&str> = requests.iter().map(|r| r.headers["webhook-id"].as_str()).collect();
    assert_eq!(seen.len(), 4, "an id per write");
    for id in &seen {
        assert!(id.len() == 36 && id.starts_with("evt_"), "{id}");
        assert!(!id.contains(&sub) && ids.iter().all(|unkeyed| unkeyed != id), "{id}");
    }
}

#[tokio::test]
async fn given_a_receiver_failing_twice_then_the_third_attempt_succeeds_and_none_follows() {
    let receiver = Receiver::start(&[500, 500, 200]).await;
    let (owner, poll, option) = new_poll().await;
    register(&owner, &poll, &receiver.url, &["vote.cast"]).await;
    vote(&poll, &option).await;

    let requests = receiver.wait_for(3, Duration::from_secs(60)).await;
    assert_eq!(requests.len(), 3, "three attempts");
    assert!(requests.iter().all(|r| r.headers["webhook-id"] == requests[0].headers["webhook-id"]), "one event id");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(receiver.requests().len(), 3, "nothing after the success");
    let hook = &webhooks(&owner, &poll).await[0];
    assert_eq!(hook["last_error"], "HTTP 500");
    assert_eq!(hook["disabled_at"], Value::Null);
}

#[tokio::test]
async fn given_internal_targets_by_address_or_name_then_every_delivery_is_refused_and_nothing_connects() {
    // Listeners where a refused delivery could land if it were not refused.
    let v4 = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = v4.local_addr().unwrap().port();
    let v6 = tokio::net::TcpListener::bind(("::1", port)).await.ok();
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for listener in std::iter::once(v4).chain(v6) {
        let connected = std::sync::Arc::clone(&connected);
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                connected.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let literals = [
        "127.0.0.2",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[fc00::1]",
        "[fe80::1]",
        "[::ffff:127.0.0.2]",
    ];
    let names = ballot_tests::required_env("BALLOT_WEBHOOK_HOSTS");
    let names: Vec<&str> = names.split(',').filter_map(|pair| pair.split_once('=')).map(|(name, _)| name).collect();
    assert!(names.len() >= 10, "{names:?}");
    let targets: Vec<String> =
        literals.iter().chain(names.iter()).map(|host| format!("http://{host}:{port}/hook")).collect();

    let mut polls = Vec::new();
    for chunk in targets.chunks(5) {
        let (owner, poll, option) = new_poll().await;
        for url in chunk {
            register(&owner, &poll, url, &["vote.cast"]).await;
        }
        vote(&poll, &option).await;
        polls.push((owner, poll));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut errors: Vec<(String, Value)> = Vec::new();
    while tokio::time::Instant::now() < deadline {
        errors.clear();
        for (owner, poll) in &polls {
            for hook in webhooks(owner, poll).await {
                errors.push((hook["url"].as_str().unwrap().to_owned(), hook["last_error"].clone()));
            }
        }
        if errors.iter().all(|(_, error)| !error.is_null()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(errors.len(), targets.len());
    for (url, error) in &errors {
        let error = error.as_str().unwrap_or_else(|| panic!("{url}: no delivery recorded"));
        assert!(error.starts_with("refused: "), "{url}: {error}");
    }
    assert_eq!(connected.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing connected");
}

#[tokio::test]
async fn given_the_same_event_twice_then_one_delivery() {
    let receiver = Receiver::start(&[200]).await;
    let (owner, poll, _) = new_poll().await;
    register(&owner, &poll, &receiver.url, &["vote.cast"]).await;
    let event = vote_event(&poll);
    publish(&[event.clone(), event]).await;

    assert_eq!(receiver.wait_for(1, Duration::from_secs(30)).await.len(), 1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(receiver.requests().len(), 1, "one delivery");
}

#[tokio::test]
async fn given_20_deliveries_failing_for_good_then_the_webhook_is_disabled_and_gets_nothing_more() {
    let receiver = Receiver::start(&[500]).await;
    let (owner, poll, _) = new_poll().await;
    register(&owner, &poll, &receiver.url, &["vote.cast"]).await;
    let attempts = 6; // `make test` retries after 1 s, 5 times.
    let events: Vec<_> = (0..shared::store::webhooks::DISABLE_AFTER).map(|_| vote_event(&poll)).collect();
    publish(&events).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let hook = loop {
        let hook = webhooks(&owner, &poll).await.remove(0);
        if !hook["disabled_at"].is_null() {
            break hook;
        }
        assert!(tokio::time::Instant::now() < deadline, "not disabled: {hook}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(hook["last_error"], "HTTP 500");
    let sent = receiver.requests().len();
    assert_eq!(sent, events.len() * attempts, "every delivery had all its attempts");

    publish(&[vote_event(&poll)]).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(receiver.requests().len(), sent, "a disabled webhook gets nothing more");
}
