//! Polls through the local gateway: creating, reading, listing, changing with If-Match,
//! closing, reopening and deleting; bad input refused with field errors and nothing
//! written; another user may read a poll but never change it. Every response body is
//! checked against infra/openapi.yaml.

use ballot_core::access::Role;
use ballot_tests::{
    assert_conforms, assert_problem, call, guest_tokens, items_of_poll, local_store, token_for_account,
};
use serde_json::{Value, json};

/// A request to the API with `token`.
/// Sends a request, checks the body against the OpenAPI document for `template_path`,
/// and returns the status, headers and body.
async fn exchange(
    request: reqwest::RequestBuilder,
    method: &str,
    template_path: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let text = response.text().await.unwrap();
    let body: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    if !text.is_empty() {
        assert_conforms(method, template_path, status, &body);
    }
    (status, headers, body)
}

fn lunch(extra: Value) -> Value {
    let mut body = json!({"question": "Lunch?", "options": [{"text": "Pizza"}, {"text": "Sushi"}, {"text": "Salad"}]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

async fn create(token: &str, body: &Value) -> Value {
    let (status, headers, poll) = exchange(call("POST", "/v1/polls", token).json(body), "POST", "/v1/polls").await;
    assert_eq!(status, 201, "{poll}");
    assert_eq!(headers["location"], format!("/v1/polls/{}", poll["id"].as_str().unwrap()).as_str());
    assert_eq!(headers["etag"], "\"1\"");
    poll
}

async fn editor() -> (String, String) {
    token_for_account(&[Role::Editor]).await
}

#[tokio::test]
async fn given_an_editor_when_a_poll_is_created_then_defaults_apply_and_anyone_can_read_it() {
    let (token, sub) = editor().await;
    let poll = create(&token, &lunch(json!({"question": "  Lunch?  "}))).await;
    assert_eq!(poll["question"], "Lunch?");
    assert_eq!(poll["kind"], "single");
    assert_eq!((poll["min_choices"].as_u64(), poll["max_choices"].as_u64()), (Some(1), Some(1)));
    assert_eq!(poll["visibility"], "unlisted");
    assert_eq!(poll["results_visibility"], "always");
    assert_eq!((poll["allow_guests"].as_bool(), poll["allow_vote_change"].as_bool()), (Some(false), Some(false)));
    assert_eq!((poll["status"].as_str(), poll["owner_id"].as_str()), (Some("open"), Some(sub.as_str())));
    assert_eq!(poll["id"].as_str().unwrap().len(), 22, "128 random bits");
    let ids: Vec<&str> = poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);

    let path = format!("/v1/polls/{}", poll["id"].as_str().unwrap());
    // Others read it without its owner's id (a user id would let them recognise the owner).
    let mut anonymous = poll.clone();
    anonymous.as_object_mut().unwrap().remove("owner_id");
    for reader in [guest_tokens(1).await.remove(0), token_for_account(&[Role::Viewer]).await.0] {
        let (status, headers, read) = exchange(call("GET", &path, &reader), "GET", "/v1/polls/{id}").await;
        assert_eq!(status, 200);
        assert_eq!(read, anonymous);
        assert_eq!(headers["etag"], "\"1\"");
    }
    for reader in [token.clone(), token_for_account(&[Role::Admin]).await.0] {
        let (_, _, read) = exchange(call("GET", &path, &reader), "GET", "/v1/polls/{id}").await;
        assert_eq!(read, poll, "the owner and admins see owner_id");
    }
    let (status, _, _) = exchange(call("GET", "/v1/polls/nosuchpoll0000000000", &token), "GET", "/v1/polls/{id}").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn given_bad_polls_when_created_then_400_names_each_field_and_nothing_is_written() {
    let (token, _) = editor().await;
    let many: Vec<Value> = (0..21).map(|i| json!({"text": format!("option {i}")})).collect();
    let cases = [
        (lunch(json!({"colour": "red"})), "#/colour"),
        (lunch(json!({"allow_guests": "yes"})), "#/allow_guests"),
        (json!({"question": "Lunch?", "options": many}), "#/options"),
        (lunch(json!({"question": "q".repeat(10_000)})), "#/question"),
        (json!({"question": "Lunch?", "options": [{"text": "Pizza"}, {"text": " pizza "}]}), "#/options/1/text"),
        (lunch(json!({"closes_at": "2020-01-01T00:00:00Z"})), "#/closes_at"),
        (lunch(json!({"kind": "multiple", "min_choices": 3, "max_choices": 2})), "#/min_choices"),
        (lunch(json!({"max_choices": 2})), "#/max_choices"),
        (json!({"question": "Lunch?", "options": [{"text": "a"}, {"text": "b\u{7}"}]}), "#/options/1/text"),
    ];
    for (body, pointer) in cases {
        let response = call("POST", "/v1/polls", &token).json(&body).send().await.unwrap();
        let problem = assert_problem(response, 400, "validation-failed").await;
        assert_conforms("POST", "/v1/polls", 400, &problem);
        let pointers: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().filter_map(|e| e["pointer"].as_str()).collect();
        assert!(pointers.contains(&pointer), "{body} → {problem}");
    }
    let (status, _, mine) = exchange(call("GET", "/v1/polls", &token), "GET", "/v1/polls").await;
    assert_eq!(status, 200);
    assert_eq!(mine["polls"], json!([]), "a refused poll leaves nothing behind");
}

#[tokio::test]
async fn given_many_polls_when_listed_then_newest_first_by_page_and_cursors_are_tamper_evident() {
    let (token, _) = editor().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let visibility = if i % 2 == 0 { "public" } else { "unlisted" };
        created.push(create(&token, &lunch(json!({"question": format!("Poll {i}"), "visibility": visibility}))).await);
        // created_at has second precision: the id breaks ties, so order by time needs a tick.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let (_, _, first) = exchange(call("GET", "/v1/polls?limit=2", &token), "GET", "/v1/polls").await;
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, _, second) =
        exchange(call("GET", &format!("/v1/polls?limit=2&cursor={cursor}"), &token), "GET", "/v1/polls").await;
    let questions: Vec<&str> = first["polls"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["polls"].as_array().unwrap())
        .map(|p| p["question"].as_str().unwrap())
        .collect();
    assert_eq!(questions, ["Poll 4", "Poll 3", "Poll 2", "Poll 1"]);

    let (_, _, public) = exchange(call("GET", "/v1/polls/public?limit=100", &token), "GET", "/v1/polls/public").await;
    let public_ids: Vec<&str> = public["polls"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    for (i, poll) in created.iter().enumerate() {
        assert_eq!(public_ids.contains(&poll["id"].as_str().unwrap()), i % 2 == 0, "poll {i}");
    }

    let mut forged = cursor.clone();
    forged.insert(cursor.len() / 2, 'A');
    for query in [format!("?limit=2&cursor={forged}"), "?limit=100000".into(), "?limit=0".into(), "?limit=ten".into()] {
        let response = call("GET", &format!("/v1/polls{query}"), &token).send().await.unwrap();
        let problem = assert_problem(response, 400, "validation-failed").await;
        assert_conforms("GET", "/v1/polls", 400, &problem);
        assert!(problem["errors"][0]["parameter"].is_string(), "{query}: {problem}");
    }
    let response = call("GET", &format!("/v1/polls/public?cursor={cursor}"), &token).send().await.unwrap();
    assert_problem(response, 400, "validation-failed").await;
}

#[tokio::test]
async fn given_a_poll_when_patched_then_if_match_guards_it_and_votes_freeze_it() {
    let (token, _) = editor().await;
    let poll = create(&token, &lunch(json!({"results_visibility": "after_vote"}))).await;
    let path = format!("/v1/polls/{}", poll["id"].as_str().unwrap());
    let patch = |body: Value, version: Option<&str>| {
        let request = call("PATCH", &path, &token).json(&body);
        match version {
            Some(v) => request.header("if-match", v),
            None => request,
        }
    };
    let (status, _, problem) = exchange(patch(json!({"question": "Dinner?"}), None), "PATCH", "/v1/polls/{id}").await;
    assert_eq!((status, problem["type"].as_str()), (428, Some("urn:ballot:problem:precondition-required")));
    let (status, _, _) =
        exchange(patch(json!({"question": "Dinner?"}), Some("\"7\"")), "PATCH", "/v1/polls/{id}").await;
    assert_eq!(status, 412);
    for malformed in ["", "\"seven\""] {
        let (status, _, problem) =
            exchange(patch(json!({"question": "Dinner?"}), Some(malformed)), "PATCH", "/v1/polls/{id}").await;
        assert_eq!((status, problem["type"].as_str()), (400, Some("urn:ballot:problem:bad-request")), "{malformed:?}");
    }
    let (status, headers, changed) = exchange(
        patch(json!({"question": "Dinner?", "options": [{"text": "Tapas"}, {"text": "Ramen"}]}), Some("\"1\"")),
        "PATCH",
        "/v1/polls/{id}",
    )
    .await;
    assert_eq!((status, changed["version"].as_u64()), (200, Some(2)), "{changed}");
    assert_eq!(headers["etag"], "\"2\"");
    assert_eq!(changed["question"], "Dinner?");
    let (status, _, _) =
        exchange(patch(json!({"visibility": "public"}), Some("\"1\"")), "PATCH", "/v1/polls/{id}").await;
    assert_eq!(status, 412, "the old version is stale now");

    let voter = token_for_account(&[Role::Viewer]).await.0;
    let option = changed["options"][0]["id"].as_str().unwrap();
    let vote = call("POST", &format!("{path}/votes"), &voter).json(&json!({"option_ids": [option]}));
    assert_eq!(vote.send().await.unwrap().status(), 201);

    for frozen in [
        json!({"question": "Breakfast?"}),
        json!({"options": [{"text": "x"}, {"text": "y"}]}),
        json!({"allow_guests": true}),
        json!({"results_visibility": "always"}),
    ] {
        let (status, _, problem) = exchange(patch(frozen.clone(), Some("\"2\"")), "PATCH", "/v1/polls/{id}").await;
        assert_eq!(status, 409, "{frozen}: {problem}");
    }
    let (status, _, tightened) = exchange(
        patch(json!({"results_visibility": "owner", "visibility": "public"}), Some("\"2\"")),
        "PATCH",
        "/v1/polls/{id}",
    )
    .await;
    assert_eq!((status, tightened["results_visibility"].as_str()), (200, Some("owner")), "{tightened}");
    let (status, _, problem) = exchange(patch(json!({"version": 9}), Some("\"3\"")), "PATCH", "/v1/polls/{id}").await;
    assert_eq!((status, problem["errors"][0]["pointer"].as_str()), (400, Some("#/version")));
}

#[tokio::test]
async fn given_another_users_poll_when_they_try_to_change_it_then_403_but_they_can_read_it() {
    let (owner, _) = editor().await;
    let poll = create(&owner, &lunch(json!({"results_visibility": "owner"}))).await;
    let path = format!("/v1/polls/{}", poll["id"].as_str().unwrap());
    let (other, _) = editor().await;
    let attempts = [
        call("PATCH", &path, &other).header("if-match", "\"1\"").json(&json!({"question": "Mine now?"})),
        call("POST", &format!("{path}/close"), &other),
        call("POST", &format!("{path}/reopen"), &other),
        call("DELETE", &path, &other),
        call("GET", &format!("{path}/stats"), &other),
    ];
    for attempt in attempts {
        assert_problem(attempt.send().await.unwrap(), 403, "forbidden").await;
    }
    let hidden = call("GET", &format!("{path}/results"), &other).send().await.unwrap();
    let problem = assert_problem(hidden, 403, "results-hidden").await;
    assert_conforms("GET", "/v1/polls/{id}/results", 403, &problem);
    let (status, _, read) = exchange(call("GET", &path, &other), "GET", "/v1/polls/{id}").await;
    assert_eq!((status, read["version"].as_u64()), (200, Some(1)), "nothing changed");
    let (status, _, results) =
        exchange(call("GET", &format!("{path}/results"), &owner), "GET", "/v1/polls/{id}/results").await;
    assert_eq!((status, results["total_ballots"].as_u64()), (200, Some(0)));
    let viewer = token_for_account(&[Role::Viewer]).await.0;
    assert_problem(call("POST", "/v1/polls", &viewer).json(&lunch(json!({}))).send().await.unwrap(), 403, "forbidden")
        .await;
}

#[tokio::test]
async fn given_a_poll_when_closed_and_reopened_then_votes_follow_and_closing_time_is_final() {
    let (token, _) = editor().await;
    let poll = create(&token, &lunch(json!({"allow_guests": true}))).await;
    let path = format!("/v1/polls/{}", poll["id"].as_str().unwrap());
    let option = poll["options"][0]["id"].as_str().unwrap().to_owned();
    let guests = guest_tokens(3).await;
    let vote = |i: usize| call("POST", &format!("{path}/votes"), &guests[i]).json(&json!({"option_ids": [option]}));

    let (status, _, closed) =
        exchange(call("POST", &format!("{path}/close"), &token), "POST", "/v1/polls/{id}/close").await;
    assert_eq!((status, closed["status"].as_str(), closed["version"].as_u64()), (200, Some("closed"), Some(2)));
    let (status, _, again) =
        exchange(call("POST", &format!("{path}/close"), &token), "POST", "/v1/polls/{id}/close").await;
    assert_eq!((status, again["version"].as_u64()), (200, Some(2)), "closing a closed poll changes nothing");
    let problem = assert_problem(vote(0).send().await.unwrap(), 409, "conflict").await;
    assert_conforms("POST", "/v1/polls/{id}/votes", 409, &problem);
    let (status, _, reopened) =
        exchange(call("POST", &format!("{path}/reopen"), &token), "POST", "/v1/polls/{id}/reopen").await;
    assert_eq!((status, reopened["status"].as_str()), (200, Some("open")));
    assert_eq!(vote(0).send().await.unwrap().status(), 201);

    let soon = time_in(4);
    let short = create(&token, &lunch(json!({"allow_guests": true, "closes_at": soon}))).await;
    let short_path = format!("/v1/polls/{}", short["id"].as_str().unwrap());
    let short_option = short["options"][1]["id"].as_str().unwrap();
    let cast = |i: usize| {
        call("POST", &format!("{short_path}/votes"), &guests[i]).json(&json!({"option_ids": [short_option]}))
    };
    assert_eq!(cast(1).send().await.unwrap().status(), 201);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_problem(cast(2).send().await.unwrap(), 409, "conflict").await;
    let (_, _, read) = exchange(call("GET", &short_path, &token), "GET", "/v1/polls/{id}").await;
    assert_eq!(read["status"], "closed", "past closes_at the poll is closed for every reader");
    let reopen = call("POST", &format!("{short_path}/reopen"), &token).send().await.unwrap();
    assert_problem(reopen, 409, "conflict").await;
    let (_, headers, results) =
        exchange(call("GET", &format!("{short_path}/results"), &token), "GET", "/v1/polls/{id}/results").await;
    assert_eq!(results["status"].as_str(), Some("closed"));
    assert_eq!(headers["cache-control"], "private, max-age=5", "settling: the last ballots may still be counting");
    ballot_tests::assert_recounted(short["id"].as_str().unwrap()).await;
    let results = call("GET", &format!("{short_path}/results"), &token).send().await.unwrap();
    assert_eq!(results.json::<Value>().await.unwrap()["total_ballots"], 1, "the one ballot before closes_at");
}

/// RFC 3339 `seconds` from now.
fn time_in(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now() + std::time::Duration::from_secs(seconds))
        .to_string()
}

#[tokio::test]
async fn given_a_deleted_poll_then_it_is_gone_at_once_and_its_items_are_purged() {
    let (token, _) = editor().await;
    let poll = create(&token, &lunch(json!({"allow_guests": true, "visibility": "public"}))).await;
    let id = poll["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/polls/{id}");
    let option = poll["options"][2]["id"].as_str().unwrap();
    for guest in guest_tokens(5).await {
        let response = call("POST", &format!("{path}/votes"), &guest).json(&json!({"option_ids": [option]}));
        assert_eq!(response.send().await.unwrap().status(), 201);
    }
    let (status, _, _) = exchange(call("DELETE", &path, &token), "DELETE", "/v1/polls/{id}").await;
    assert_eq!(status, 204);
    for sub in ["", "/results", "/votes/me"] {
        assert_problem(call("GET", &format!("{path}{sub}"), &token).send().await.unwrap(), 404, "not-found").await;
    }
    let (_, _, mine) = exchange(call("GET", "/v1/polls", &token), "GET", "/v1/polls").await;
    assert!(!mine["polls"].as_array().unwrap().iter().any(|p| p["id"] == id.as_str()));
    // Deleting again is 204 while the purge runs (announced again, same event id) and
    // 404 once it is done; never an error.
    let again = call("DELETE", &path, &token).send().await.unwrap().status().as_u16();
    assert!([204, 404].contains(&again), "{again}");

    let store = local_store().await;
    let mut left = usize::MAX;
    for _ in 0..40 {
        left = items_of_poll(&store, &id).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(left, 0, "the consumer purged every item of the poll");
    assert_problem(call("DELETE", &path, &token).send().await.unwrap(), 404, "not-found").await;
}
