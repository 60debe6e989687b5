//! Administration through the local gateway: the first admin made by the ops command,
//! listing accounts page by page, disabling an account (sign-in, refresh and its tokens
//! stop working), and an admin unable to lock themselves out.

use ballot_core::access::Role;
use ballot_tests::{api, assert_problem, client, local_store, post_json, token_for_account, unique_email};
use serde_json::{Value, json};

const PASSWORD: &str = "an admin's long passphrase";

async fn register_and_login(email: &str) -> Value {
    let created = post_json(
        &client(),
        "/v1/auth/register",
        &json!({"email": email, "password": PASSWORD, "display_name": "Ada"}),
    )
    .await;
    assert_eq!(created.status(), 202);
    post_json(&client(), "/v1/auth/login", &json!({"email": email, "password": PASSWORD})).await.json().await.unwrap()
}

async fn list(token: &str, query: &str) -> reqwest::Response {
    client().get(format!("{}/v1/admin/users{query}", api())).bearer_auth(token).send().await.unwrap()
}

async fn patch(token: &str, id: &str, body: Value) -> reqwest::Response {
    client().patch(format!("{}/v1/admin/users/{id}", api())).bearer_auth(token).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn given_the_ops_command_when_an_account_is_made_admin_then_it_can_list_accounts() {
    let email = unique_email("first-admin");
    let before = register_and_login(&email).await;
    let editor_token = before["access_token"].as_str().unwrap();
    assert_eq!(list(editor_token, "").await.status(), 403, "an editor is not an admin");

    ballot_local::ops::make_admin(&local_store().await, &email).await.unwrap();
    let after: Value = post_json(&client(), "/v1/auth/login", &json!({"email": email, "password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let response = list(after["access_token"].as_str().unwrap(), "?limit=2").await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    assert!(page["users"][0].get("password_hash").is_none());
}

#[tokio::test]
async fn given_many_accounts_when_listed_page_by_page_then_newest_first_and_cursors_are_tamper_evident() {
    let (admin, _) = token_for_account(&[Role::Admin]).await;
    let first: Value = list(&admin, "?limit=3").await.json().await.unwrap();
    let cursor = first["next_cursor"].as_str().expect("more than 3 accounts exist").to_owned();
    let second: Value = list(&admin, &format!("?limit=3&cursor={cursor}")).await.json().await.unwrap();
    let ids = |page: &Value| {
        page["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert!(ids(&first).iter().all(|id| !ids(&second).contains(id)), "pages do not overlap");
    let created = |page: &Value| {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["created_at"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let all: Vec<String> = created(&first).into_iter().chain(created(&second)).collect();
    assert!(all.windows(2).all(|w| w[0] >= w[1]), "newest first: {all:?}");

    let mut forged = cursor.clone();
    forged.insert(cursor.len() / 2, 'A');
    assert_problem(list(&admin, &format!("?limit=3&cursor={forged}")).await, 400, "validation-failed").await;
    assert_problem(list(&admin, "?limit=0").await, 400, "validation-failed").await;
    assert_problem(list(&admin, "?limit=101").await, 400, "validation-failed").await;
}

#[tokio::test]
async fn given_a_disabled_account_then_it_cannot_sign_in_refresh_or_use_its_tokens() {
    let email = unique_email("disabled");
    let tokens = register_and_login(&email).await;
    let id = local_store().await.user_id_by_email(&email).await.unwrap().unwrap();
    let (admin, _) = token_for_account(&[Role::Admin]).await;
    let response = patch(&admin, &id, json!({"disabled": true})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["disabled"], true);

    // The access token was never used, so no authorizer decision is cached for it.
    let me = client()
        .get(format!("{}/v1/me", api()))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(me, 401, "unauthorized").await;
    let refresh = post_json(&client(), "/v1/auth/refresh", &json!({"refresh_token": tokens["refresh_token"]})).await;
    assert_problem(refresh, 401, "unauthorized").await;
    let login = post_json(&client(), "/v1/auth/login", &json!({"email": email, "password": PASSWORD})).await;
    assert_problem(login, 401, "unauthorized").await;
}

#[tokio::test]
async fn given_bad_changes_then_clear_problems_and_no_self_lockout() {
    let (admin, admin_id) = token_for_account(&[Role::Admin]).await;
    let (_, other) = token_for_account(&[Role::Viewer]).await;
    assert_problem(patch(&admin, &admin_id, json!({"disabled": true})).await, 409, "conflict").await;
    assert_problem(patch(&admin, &admin_id, json!({"roles": ["editor"]})).await, 409, "conflict").await;
    let empty = assert_problem(patch(&admin, &other, json!({})).await, 400, "validation-failed").await;
    assert!(empty.to_string().contains("give roles"), "{empty}");
    let guest =
        assert_problem(patch(&admin, &other, json!({"roles": ["guest"]})).await, 400, "validation-failed").await;
    assert_eq!(guest["errors"][0]["pointer"], "#/roles");
    let unknown =
        assert_problem(patch(&admin, &other, json!({"roles": ["root"]})).await, 400, "validation-failed").await;
    assert_eq!(unknown["errors"][0]["pointer"], "#/roles/0");
    assert_problem(patch(&admin, "no-such-account", json!({"disabled": true})).await, 404, "not-found").await;
    let promoted = patch(&admin, &other, json!({"roles": ["viewer", "editor"]})).await;
    assert_eq!(promoted.json::<Value>().await.unwrap()["roles"], json!(["viewer", "editor"]));
}
