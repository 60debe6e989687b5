//! Votes through the local gateway: counted exactly once under concurrency, retries and
//! changes; bad ballots refused; guests only where allowed; Idempotency-Key replay,
//! mismatch and concurrent duplicates; results with ETag/304; hourly statistics kept by
//! the stream tally. Results trail votes by the stream's delay, so a test reads them once
//! the tally has caught up with a recount of the ballots (`assert_recounted`). Response
//! bodies are checked against infra/openapi.yaml.

use std::collections::HashMap;

use ballot_core::access::Role;
use ballot_tests::{assert_conforms, assert_problem, assert_recounted, call, guest_tokens, token_for_account};
use futures::future::join_all;
use serde_json::{Value, json};

/// A poll of `editor` with `options` options and `extra` settings.
async fn poll(editor: &str, options: usize, extra: Value) -> Value {
    let mut body = json!({
        "question": "Which?",
        "options": (0..options).map(|i| json!({"text": format!("Option {i}")})).collect::<Vec<_>>(),
        "allow_guests": true,
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let response = call("POST", "/v1/polls", editor).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn option_ids(poll: &Value) -> Vec<String> {
    poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
}

async fn vote(poll_id: &str, token: &str, picks: &[&str]) -> reqwest::Response {
    call("POST", &format!("/v1/polls/{poll_id}/votes"), token).json(&json!({"option_ids": picks})).send().await.unwrap()
}

/// The results of `poll_id` once the tally has caught up with its ballots.
async fn results(poll_id: &str, token: &str) -> Value {
    assert_recounted(poll_id).await;
    let response = call("GET", &format!("/v1/polls/{poll_id}/results"), token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_conforms("GET", "/v1/polls/{id}/results", 200, &body);
    body
}

fn counts(results: &Value) -> HashMap<String, u64> {
    results["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap().to_owned(), o["votes"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn given_200_voters_at_once_when_counted_then_totals_are_exact_and_changes_keep_them_exact() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll = poll(&editor, 3, json!({"allow_vote_change": true})).await;
    let (id, options) = (poll["id"].as_str().unwrap().to_owned(), option_ids(&poll));
    let voters = guest_tokens(200).await;
    let picks: Vec<&str> = (0..200).map(|i| options[i % 3].as_str()).collect();
    let statuses =
        join_all(voters.iter().zip(&picks).map(|(t, p)| async { vote(&id, t, &[p]).await.status().as_u16() })).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let tally = results(&id, &editor).await;
    assert_eq!(tally["total_ballots"], 200);
    let expected: HashMap<String, u64> =
        options.iter().enumerate().map(|(i, o)| (o.clone(), if i < 2 { 67 } else { 66 })).collect();
    assert_eq!(counts(&tally), expected);

    // The first 100 move to the next option, all at once.
    let moved = join_all(voters[..100].iter().enumerate().map(|(i, t)| {
        let next = options[(i + 1) % 3].clone();
        let id = id.clone();
        async move { vote(&id, t, &[&next]).await.status().as_u16() }
    }))
    .await;
    assert!(moved.iter().all(|s| *s == 200), "{moved:?}");
    let tally = results(&id, &editor).await;
    assert_eq!(tally["total_ballots"], 200, "a change is not a new ballot");
    let mut expected = HashMap::new();
    for (i, _) in voters.iter().enumerate() {
        let option = if i < 100 { (i + 1) % 3 } else { i % 3 };
        *expected.entry(options[option].clone()).or_insert(0) += 1;
    }
    assert_eq!(counts(&tally), expected);
    assert_eq!(counts(&tally).values().sum::<u64>(), 200);
    assert_recounted(&id).await;
}

#[tokio::test]
async fn given_one_voter_sending_20_votes_at_once_then_one_ballot_is_counted() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll = poll(&editor, 2, json!({})).await;
    let (id, options) = (poll["id"].as_str().unwrap().to_owned(), option_ids(&poll));
    let voter = guest_tokens(1).await.remove(0);
    let statuses = join_all((0..20).map(|_| async { vote(&id, &voter, &[&options[0]]).await.status().as_u16() })).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| [200, 201].contains(s)), "the same picks again are 200: {statuses:?}");
    let tally = results(&id, &editor).await;
    assert_eq!(tally["total_ballots"], 1);
    assert_eq!(counts(&tally)[&options[0]], 1);

    // Other picks without allow_vote_change: 409, and nothing moves.
    let problem = assert_problem(vote(&id, &voter, &[&options[1]]).await, 409, "conflict").await;
    assert_conforms("POST", "/v1/polls/{id}/votes", 409, &problem);
    assert_eq!(counts(&results(&id, &editor).await)[&options[1]], 0);
    let mine = call("GET", &format!("/v1/polls/{id}/votes/me"), &voter).send().await.unwrap();
    assert_eq!(mine.status(), 200);
    let mine: Value = mine.json().await.unwrap();
    assert_conforms("GET", "/v1/polls/{id}/votes/me", 200, &mine);
    assert_eq!(mine["option_ids"], json!([options[0]]));
    assert_recounted(&id).await;
}

#[tokio::test]
async fn given_bad_ballots_then_400_with_field_errors_and_nothing_counted() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll_a = poll(&editor, 3, json!({"kind": "multiple", "max_choices": 2})).await;
    let poll_b = poll(&editor, 2, json!({})).await;
    let (id, a, b) = (poll_a["id"].as_str().unwrap().to_owned(), option_ids(&poll_a), option_ids(&poll_b));
    let voter = guest_tokens(1).await.remove(0);
    let cases: [(Value, &str); 6] = [
        (json!({"option_ids": [b[0]]}), "#/option_ids/0"),
        (json!({"option_ids": [a[0], a[0]]}), "#/option_ids/1"),
        (json!({"option_ids": [a[0], a[1], a[2]]}), "#/option_ids"),
        (json!({"option_ids": []}), "#/option_ids"),
        (json!({"option_ids": "all"}), "#/option_ids"),
        (json!({"option_ids": [a[0]], "weight": 10}), "#/weight"),
    ];
    for (body, pointer) in cases {
        let response = call("POST", &format!("/v1/polls/{id}/votes"), &voter).json(&body).send().await.unwrap();
        let problem = assert_problem(response, 400, "validation-failed").await;
        assert_conforms("POST", "/v1/polls/{id}/votes", 400, &problem);
        assert!(problem["errors"].as_array().unwrap().iter().any(|e| e["pointer"] == pointer), "{body}: {problem}");
    }
    assert_eq!(results(&id, &editor).await["total_ballots"], 0);
    assert_problem(call("GET", &format!("/v1/polls/{id}/votes/me"), &voter).send().await.unwrap(), 404, "not-found")
        .await;
    assert_eq!(vote(&id, &voter, &[&a[0], &a[2]]).await.status(), 201, "two picks fit max_choices 2");
    assert_problem(vote("nosuchpoll0000000000", &voter, &[&a[0]]).await, 404, "not-found").await;
}

#[tokio::test]
async fn given_a_poll_without_guests_then_guests_get_403_and_accounts_vote() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll = poll(&editor, 2, json!({"allow_guests": false})).await;
    let (id, options) = (poll["id"].as_str().unwrap().to_owned(), option_ids(&poll));
    let guest = guest_tokens(1).await.remove(0);
    assert_problem(vote(&id, &guest, &[&options[0]]).await, 403, "forbidden").await;
    let viewer = token_for_account(&[Role::Viewer]).await.0;
    let response = vote(&id, &viewer, &[&options[0]]).await;
    assert_eq!(response.status(), 201);
    let ballot: Value = response.json().await.unwrap();
    assert_conforms("POST", "/v1/polls/{id}/votes", 201, &ballot);
    assert_eq!(results(&id, &editor).await["total_ballots"], 1);
}

#[tokio::test]
async fn given_idempotency_keys_then_replay_mismatch_and_concurrent_duplicates_behave() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let body = json!({"question": "Keyed?", "options": [{"text": "a"}, {"text": "b"}], "allow_guests": true});
    let send =
        |key: &str, body: &Value| call("POST", "/v1/polls", &editor).header("idempotency-key", key).json(body).send();
    let key = format!("create-{}", ballot_core::ids::random_id());
    let first = send(&key, &body).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(&key, &body).await.unwrap();
    assert_eq!((again.status().as_u16(), again.headers()["idempotent-replayed"].to_str().unwrap()), (201, "true"));
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"], "the stored response, not a second poll");
    let mine: Value = call("GET", "/v1/polls", &editor).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine["polls"].as_array().unwrap().len(), 1);
    let other = json!({"question": "Other?", "options": [{"text": "a"}, {"text": "b"}]});
    let problem = assert_problem(send(&key, &other).await.unwrap(), 422, "unprocessable").await;
    assert_conforms("POST", "/v1/polls", 422, &problem);

    // Concurrent duplicates of one vote: one runs; the others are 409 while it is in
    // flight or its replay once it is done; the ballot is counted once. Whether any
    // duplicate overlaps the run here is up to the scheduler (a fresh-clone run saw all 11
    // replayed), so the 409 while in flight is shown with a held run in tests/idempotency.rs.
    let id = first["id"].as_str().unwrap().to_owned();
    let option = option_ids(&first)[0].clone();
    let voter = guest_tokens(1).await.remove(0);
    let vote_key = format!("vote-{}", ballot_core::ids::random_id());
    let statuses = join_all((0..12).map(|_| async {
        let response = call("POST", &format!("/v1/polls/{id}/votes"), &voter)
            .header("idempotency-key", &vote_key)
            .json(&json!({"option_ids": [option]}))
            .send()
            .await
            .unwrap();
        let replayed = response.headers().contains_key("idempotent-replayed");
        (response.status().as_u16(), replayed)
    }))
    .await;
    let ran = statuses.iter().filter(|(s, replayed)| *s == 201 && !replayed).count();
    assert_eq!(ran, 1, "{statuses:?}");
    assert!(statuses.iter().all(|(s, replayed)| *s == 409 || *s == 201 && (*replayed || ran == 1)), "{statuses:?}");
    assert_eq!(results(&id, &editor).await["total_ballots"], 1);
}

#[tokio::test]
async fn given_results_when_read_again_then_etag_gives_304_until_a_vote_changes_it() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll = poll(&editor, 2, json!({})).await;
    let (id, options) = (poll["id"].as_str().unwrap().to_owned(), option_ids(&poll));
    let path = format!("/v1/polls/{id}/results");
    let first = call("GET", &path, &editor).send().await.unwrap();
    assert_eq!(first.headers()["cache-control"], "private, max-age=5");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let cached = call("GET", &path, &editor).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    assert!(cached.bytes().await.unwrap().is_empty());

    let voter = guest_tokens(1).await.remove(0);
    assert_eq!(vote(&id, &voter, &[&options[1]]).await.status(), 201);
    assert_recounted(&id).await;
    let fresh = call("GET", &path, &voter).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(fresh.status(), 200, "a new vote changes the ETag");
    assert_ne!(fresh.headers()["etag"].to_str().unwrap(), etag);
    let body: Value = fresh.json().await.unwrap();
    assert_eq!(body["options"][1]["votes"], 1, "counted");
    assert_eq!(body["options"][1]["percent"], 100.0);

    let closed = call("POST", &format!("/v1/polls/{id}/close"), &editor).send().await.unwrap();
    assert_eq!(closed.status(), 200);
    let after = call("GET", &path, &editor).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(after.headers()["cache-control"], "private, max-age=5", "for a minute, the last ballots may count");
}

#[tokio::test]
async fn given_after_vote_results_then_voters_see_them_and_others_do_not() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll = poll(&editor, 2, json!({"results_visibility": "after_vote"})).await;
    let (id, options) = (poll["id"].as_str().unwrap().to_owned(), option_ids(&poll));
    let [voter, onlooker]: [String; 2] = guest_tokens(2).await.try_into().unwrap();
    let path = format!("/v1/polls/{id}/results");
    assert_problem(call("GET", &path, &voter).send().await.unwrap(), 403, "results-hidden").await;
    assert_eq!(vote(&id, &voter, &[&options[0]]).await.status(), 201);
    assert_eq!(results(&id, &voter).await["total_ballots"], 1);
    assert_problem(call("GET", &path, &onlooker).send().await.unwrap(), 403, "results-hidden").await;
}

#[tokio::test]
async fn given_votes_then_the_consumer_keeps_hourly_statistics_for_the_owner() {
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll = poll(&editor, 2, json!({"allow_vote_change": true})).await;
    let (id, options) = (poll["id"].as_str().unwrap().to_owned(), option_ids(&poll));
    let voters = guest_tokens(3).await;
    for voter in &voters {
        assert_eq!(vote(&id, voter, &[&options[0]]).await.status(), 201);
    }
    assert_eq!(vote(&id, &voters[0], &[&options[1]]).await.status(), 200);
    // The same picks again write nothing: counted once.
    assert_eq!(vote(&id, &voters[0], &[&options[1]]).await.status(), 200);
    // Up to 2 minutes: locally one poller feeds `poll-events`, one batch at a time, and a
    // concurrent test's 5,000-ballot purge can hold the queue that long.
    let mut stats = Value::Null;
    for _ in 0..240 {
        let response = call("GET", &format!("/v1/polls/{id}/stats"), &editor).send().await.unwrap();
        assert_eq!(response.status(), 200);
        stats = response.json().await.unwrap();
        let cast: u64 = stats["hours"].as_array().unwrap().iter().map(|h| h["votes_cast"].as_u64().unwrap()).sum();
        let changed: u64 =
            stats["hours"].as_array().unwrap().iter().map(|h| h["votes_changed"].as_u64().unwrap()).sum();
        if (cast, changed) == (3, 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_conforms("GET", "/v1/polls/{id}/stats", 200, &stats);
    let hours = stats["hours"].as_array().unwrap();
    let cast: u64 = hours.iter().map(|h| h["votes_cast"].as_u64().unwrap()).sum();
    let changed: u64 = hours.iter().map(|h| h["votes_changed"].as_u64().unwrap()).sum();
    assert_eq!((cast, changed), (3, 1), "{stats}");
    assert!(hours[0]["hour"].as_str().unwrap().ends_with(":00:00Z"));
}

/// Votes racing a close and a reopen: 150 voters vote in waves while the owner closes the
/// poll and reopens it. Whatever each voter was answered, the count is exactly the
/// ballots answered 201 (none refused is counted, none accepted is lost), and the tally
/// agrees with a recount of the ballots by the rule.
#[tokio::test]
async fn given_votes_racing_a_close_and_a_reopen_then_exactly_the_ballots_answered_201_count() {
    use futures::StreamExt;
    let editor = token_for_account(&[Role::Editor]).await.0;
    let poll = poll(&editor, 2, json!({})).await;
    let (id, options) = (poll["id"].as_str().unwrap().to_owned(), option_ids(&poll));
    let voters = guest_tokens(150).await;
    let owner_moves = async {
        for action in ["close", "reopen", "close"] {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            let response = call("POST", &format!("/v1/polls/{id}/{action}"), &editor).send().await.unwrap();
            assert_eq!(response.status(), 200, "{action}");
        }
    };
    let votes = futures::stream::iter(voters.iter().enumerate())
        .map(|(i, token)| {
            let (id, option) = (id.clone(), options[i % 2].clone());
            async move {
                // Spread over the owner's moves.
                tokio::time::sleep(std::time::Duration::from_millis(20 * i as u64)).await;
                vote(&id, token, &[&option]).await.status().as_u16()
            }
        })
        .buffer_unordered(150)
        .collect::<Vec<u16>>();
    let ((), statuses) = futures::join!(owner_moves, votes);
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "answered or refused as closed: {statuses:?}");
    let accepted = statuses.iter().filter(|s| **s == 201).count() as u64;
    let refused = statuses.len() as u64 - accepted;
    assert!(
        accepted > 0 && refused > 0,
        "some votes on each side of the moves: {accepted} accepted, {refused} refused"
    );
    assert_recounted(&id).await;
    let store = ballot_tests::local_store().await;
    assert_eq!(store.tallied(&id).await.unwrap().total, accepted, "exactly the ballots answered 201 count");
    assert_eq!(store.ballots_of(&id).await.unwrap().len() as u64, accepted, "and no refused vote left a ballot");
}
