//! API keys through the local gateway, as a team's server uses them: made by an editor or
//! admin for themselves and shown once, listed without secrets, stored only hashed; each
//! scope reaches exactly its routes of the route table and never more than the owner may;
//! a revoked, expired or disabled-owner key is 401; a key votes as its owner, once; each
//! key has its own rate limit.

use std::time::Duration;

use ballot_core::access::{Access, ROUTES, Role, Scope};
use ballot_tests::{
    assert_conforms, assert_problem, call, env_number, eventually, partition_items, post_as, token_for_account,
};
use futures::future::join_all;
use serde_json::{Value, json};

/// A new key of `owner` with `scopes` (201 expected): the created key's JSON.
async fn new_key(owner: &str, scopes: &[&str]) -> Value {
    let response = call("POST", "/v1/api-keys", owner).json(&json!({"name": "test", "scopes": scopes})).send().await;
    let response = response.unwrap();
    let (status, location) = (response.status().as_u16(), response.headers().get("location").cloned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_conforms("POST", "/v1/api-keys", 201, &body);
    assert_eq!(location.unwrap().to_str().unwrap(), format!("/v1/api-keys/{}", body["id"].as_str().unwrap()));
    body
}

fn secret(key: &Value) -> String {
    key["key"].as_str().unwrap().to_owned()
}

async fn poll_of(token: &str) -> Value {
    let body = json!({"question": "Keys?", "options": [{"text": "a"}, {"text": "b"}], "visibility": "public"});
    post_as(token, "/v1/polls", &body).await
}

async fn status(method: &str, path: &str, token: &str) -> u16 {
    call(method, path, token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn given_an_editor_then_a_key_is_shown_once_listed_without_it_and_stored_only_hashed() {
    let (owner, owner_id) = token_for_account(&[Role::Editor]).await;
    let key = new_key(&owner, &["polls:read"]).await;
    let token = secret(&key);
    assert!(token.starts_with(&format!("bk_{owner_id}.")), "{token}");
    assert_eq!((key["last_used_at"].clone(), key["expires_at"].clone()), (Value::Null, Value::Null));

    let listed: Value = call("GET", "/v1/api-keys", &owner).send().await.unwrap().json().await.unwrap();
    assert_conforms("GET", "/v1/api-keys", 200, &listed);
    assert_eq!(listed["api_keys"][0]["id"], key["id"]);
    assert!(!listed.to_string().contains(&token[token.len() - 43..]), "the secret is shown only at creation");

    assert_eq!(status("GET", "/v1/polls", &token).await, 200);
    let listed: Value = call("GET", "/v1/api-keys", &owner).send().await.unwrap().json().await.unwrap();
    assert!(listed["api_keys"][0]["last_used_at"].is_string(), "{listed}");

    // The table holds the secret's hash, not the secret.
    let items = partition_items(&format!("APIKEYS#{owner_id}")).await;
    let text = format!("{items:?}");
    assert!(text.contains("secret_hash") && !text.contains(&token[token.len() - 43..]), "{text}");
}

#[tokio::test]
async fn given_bad_requests_then_clear_problems_and_nothing_written() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let create = |body: Value| {
        let owner = owner.clone();
        async move { call("POST", "/v1/api-keys", &owner).json(&body).send().await.unwrap() }
    };
    let problem = assert_problem(
        create(json!({"name": " ", "scopes": ["polls:read", "polls:read"], "expires_at": "2020-01-01T00:00:00Z"}))
            .await,
        400,
        "validation-failed",
    )
    .await;
    let pointers: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["#/name", "#/scopes", "#/expires_at"]);
    assert_problem(create(json!({"name": "n", "scopes": ["admin"]})).await, 400, "validation-failed").await;
    assert_problem(create(json!({"name": "n", "scopes": []})).await, 400, "validation-failed").await;
    assert_problem(create(json!({"name": "n"})).await, 400, "validation-failed").await;
    let listed: Value = call("GET", "/v1/api-keys", &owner).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["api_keys"], json!([]), "nothing written");

    let (viewer, _) = token_for_account(&[Role::Viewer]).await;
    let refused = call("POST", "/v1/api-keys", &viewer).json(&json!({"name": "n", "scopes": ["polls:read"]}));
    assert_problem(refused.send().await.unwrap(), 403, "forbidden").await;
    assert_problem(call("DELETE", "/v1/api-keys/no-such-key", &owner).send().await.unwrap(), 404, "not-found").await;
}

#[tokio::test]
async fn given_concurrent_creations_then_an_account_holds_ten_keys_at_most() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let attempts = join_all((0..13).map(|_| {
        let owner = owner.clone();
        async move {
            let body = json!({"name": "n", "scopes": ["polls:read"]});
            call("POST", "/v1/api-keys", &owner).json(&body).send().await.unwrap().status().as_u16()
        }
    }))
    .await;
    assert_eq!(attempts.iter().filter(|s| **s == 201).count(), 10, "{attempts:?}");
    assert_eq!(attempts.iter().filter(|s| **s == 409).count(), 3, "{attempts:?}");
    let listed: Value = call("GET", "/v1/api-keys", &owner).send().await.unwrap().json().await.unwrap();
    let id = listed["api_keys"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(status("DELETE", &format!("/v1/api-keys/{id}"), &owner).await, 204);
    new_key(&owner, &["polls:read"]).await;
}

/// The table test: for every route that needs a token, a key of each single scope, of an
/// editor and of an admin, reaches it exactly when the route table says so (`allows_key`):
/// the functions answer (neither 401 nor 403), or API Gateway refuses with 403.
#[tokio::test]
async fn given_each_scope_then_its_key_reaches_exactly_its_routes_within_its_owners_roles() {
    let checks = [Role::Editor, Role::Admin].into_iter().flat_map(|role| Scope::ALL.map(move |scope| (role, scope)));
    let failures: Vec<String> = join_all(checks.map(|(role, scope)| async move {
        let (owner, _) = token_for_account(&[role]).await;
        let token = secret(&new_key(&owner, &[scope.as_str()]).await);
        let poll = poll_of(&owner).await;
        let poll_id = poll["id"].as_str().unwrap();
        let mut routes: Vec<_> = ROUTES.iter().filter(|r| r.access != Access::Public).collect();
        // Deleting the poll last, so every other route finds it.
        routes.sort_by_key(|r| (r.method, r.path) == ("DELETE", "/v1/polls/{id}"));
        let mut failures = Vec::new();
        for rule in routes {
            let path = rule.path.replace("{id}", poll_id).replace("{webhook_id}", "no-such-webhook");
            let got = status(rule.method, &path, &token).await;
            let reaches = rule.allows_key(&[role], &[scope]);
            let ok = if reaches { got != 401 && got != 403 && got < 500 } else { got == 403 };
            if !ok {
                failures.push(format!("{role:?} key {} on {} {}: {got}", scope.as_str(), rule.method, rule.path));
            }
        }
        failures
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn given_an_owner_losing_a_role_then_their_key_loses_it_too() {
    let (owner, owner_id) = token_for_account(&[Role::Editor]).await;
    let (admin, _) = token_for_account(&[Role::Admin]).await;
    let token = secret(&new_key(&owner, &["polls:write", "polls:read"]).await);
    let demoted = call("PATCH", &format!("/v1/admin/users/{owner_id}"), &admin).json(&json!({"roles": ["viewer"]}));
    assert_eq!(demoted.send().await.unwrap().status(), 200);
    // The key was never used: no authorizer answer is cached for it.
    let create =
        call("POST", "/v1/polls", &token).json(&json!({"question": "q?", "options": [{"text": "a"}, {"text": "b"}]}));
    assert_problem(create.send().await.unwrap(), 403, "forbidden").await;
    assert_eq!(status("GET", "/v1/polls/public", &token).await, 200, "a viewer may read public polls");
    // No key reaches the key routes, whatever its scopes.
    assert_eq!(status("GET", "/v1/api-keys", &token).await, 403);
}

#[tokio::test]
async fn given_a_revoked_key_then_it_is_refused_at_once_even_behind_a_cached_answer() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let (used, unused) = (new_key(&owner, &["polls:read"]).await, new_key(&owner, &["polls:read"]).await);
    assert_eq!(status("GET", "/v1/polls", &secret(&used)).await, 200, "the authorizer's answer is now cached");
    for key in [&used, &unused] {
        let path = format!("/v1/api-keys/{}", key["id"].as_str().unwrap());
        assert_eq!(status("DELETE", &path, &owner).await, 204);
        assert_problem(call("GET", "/v1/polls", &secret(key)).send().await.unwrap(), 401, "unauthorized").await;
        assert_problem(call("DELETE", &path, &owner).send().await.unwrap(), 404, "not-found").await;
    }
    // Someone else's key is not yours to delete.
    let (other, _) = token_for_account(&[Role::Editor]).await;
    let theirs = new_key(&other, &["polls:read"]).await;
    let path = format!("/v1/api-keys/{}", theirs["id"].as_str().unwrap());
    assert_problem(call("DELETE", &path, &owner).send().await.unwrap(), 404, "not-found").await;
    assert_eq!(status("GET", "/v1/polls", &secret(&theirs)).await, 200);
}

#[tokio::test]
async fn given_an_expired_key_or_a_disabled_owner_then_401() {
    let (owner, owner_id) = token_for_account(&[Role::Editor]).await;
    let soon = std::time::SystemTime::now() + Duration::from_secs(3);
    let expires_at = humantime::format_rfc3339_seconds(soon).to_string();
    let body = json!({"name": "short", "scopes": ["polls:read"], "expires_at": expires_at});
    let response = call("POST", "/v1/api-keys", &owner).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let short = response.json::<Value>().await.unwrap();
    assert_eq!(status("GET", "/v1/polls", &secret(&short)).await, 200);
    let expired =
        eventually(Duration::from_secs(10), || async { status("GET", "/v1/polls", &secret(&short)).await == 401 })
            .await;
    assert!(expired, "an expired key is refused");

    let key = new_key(&owner, &["polls:read"]).await;
    let (admin, _) = token_for_account(&[Role::Admin]).await;
    let disable = call("PATCH", &format!("/v1/admin/users/{owner_id}"), &admin).json(&json!({"disabled": true}));
    assert_eq!(disable.send().await.unwrap().status(), 200);
    assert_problem(call("GET", "/v1/polls", &secret(&key)).send().await.unwrap(), 401, "unauthorized").await;
    let forged = format!("{}x", &secret(&key)[..secret(&key).len() - 1]);
    assert_problem(call("GET", "/v1/polls", &forged).send().await.unwrap(), 401, "unauthorized").await;
}

#[tokio::test]
async fn given_a_voting_key_then_it_casts_its_owners_one_ballot() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let poll = poll_of(&owner).await;
    let (id, options) = (poll["id"].as_str().unwrap(), &poll["options"]);
    let token = secret(&new_key(&owner, &["votes:write"]).await);
    let votes = format!("/v1/polls/{id}/votes");
    let first = call("POST", &votes, &token).json(&json!({"option_ids": [options[0]["id"]]})).send().await.unwrap();
    assert_eq!(first.status(), 201);
    let again = call("POST", &votes, &owner).json(&json!({"option_ids": [options[0]["id"]]})).send().await.unwrap();
    assert_eq!(again.status(), 200, "the owner's token finds the key's ballot: one ballot, the owner's");
    let mine: Value = call("GET", &format!("{votes}/me"), &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine["option_ids"], json!([options[0]["id"]]));
}

#[tokio::test]
async fn given_a_key_over_its_limit_then_429_with_retry_after_and_other_keys_go_on() {
    let limit = env_number("BALLOT_API_KEY_LIMIT");
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let (busy, other) =
        (secret(&new_key(&owner, &["polls:read"]).await), secret(&new_key(&owner, &["polls:read"]).await));
    // Two minutes' worth at most: a minute may turn during the burst.
    let mut refused = None;
    for _ in 0..2 * limit + 1 {
        let response = call("GET", "/v1/polls", &busy).send().await.unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let refused = refused.expect("the key's limit is enforced");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_problem(refused, 429, "throttled").await;
    assert_eq!(status("GET", "/v1/polls", &other).await, 200, "the limit is the key's own");
    assert_eq!(status("GET", "/v1/polls", &owner).await, 200, "the owner's token is not limited by it");
}
