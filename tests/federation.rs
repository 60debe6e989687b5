//! Federated sign-in through the local gateway, with the local OIDC issuer that
//! `make test` runs (`ballot-local oidc-issuer`): a trusted issuer's ID token is exchanged
//! at `POST /v1/auth/federated` for ballot's tokens, the first exchange links the identity
//! to one account (created as `viewer`), and only then does the authorizer, which never
//! writes, accept the ID token itself; everything else about it is checked like ballot's
//! own tokens.

use ballot_tests::{assert_conforms, assert_problem, client, exchange, get_me, id_token, new_subject, post_json};
use serde_json::{Value, json};

#[tokio::test]
async fn given_a_trusted_id_token_when_exchanged_then_an_account_is_linked_once_as_viewer() {
    let sub = new_subject();
    let first_token = id_token(&format!("sub={sub}&aud=ballot-test&email=fed%40example.com")).await;
    assert_problem(get_me(&first_token).await, 401, "unauthorized").await;

    let response = exchange(&first_token).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_conforms("POST", "/v1/auth/federated", 200, &tokens);
    let first: Value = get_me(tokens["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(first["roles"], json!(["viewer"]));
    assert_eq!((first["email"].as_str(), first["email_verified"].as_bool()), (Some("fed@example.com"), Some(true)));
    let refresh = json!({"refresh_token": tokens["refresh_token"]});
    let refreshed = post_json(&client(), "/v1/auth/refresh", &refresh).await;
    assert_eq!(refreshed.status(), 200, "a session like a login's");

    let direct: Value = get_me(&first_token).await.json().await.unwrap();
    assert_eq!(direct["id"], first["id"], "the ID token itself, once exchanged");
    let again = id_token(&format!("sub={sub}&aud=ballot-test")).await;
    let again: Value = exchange(&again).await.json().await.unwrap();
    let again: Value = get_me(again["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(again["id"], first["id"], "the same (issuer, subject) is the same account");
}

#[tokio::test]
async fn given_concurrent_first_exchanges_of_one_identity_then_one_account() {
    let sub = new_subject();
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(id_token(&format!("sub={sub}&aud=ballot-test")).await);
    }
    let calls: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            tokio::spawn(async move {
                let issued: Value = exchange(&token).await.json().await.unwrap();
                let me: Value = get_me(issued["access_token"].as_str().unwrap()).await.json().await.unwrap();
                me["id"].as_str().expect("an account").to_owned()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for call in calls {
        ids.push(call.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn given_wrong_audience_expired_or_foreign_id_tokens_then_401_and_no_account() {
    for query in [
        format!("sub={}&aud=someone-else", new_subject()),
        format!("sub={}&aud=ballot-test&expires_in=-120", new_subject()),
    ] {
        let token = id_token(&query).await;
        assert_problem(exchange(&token).await, 401, "unauthorized").await;
        assert_problem(get_me(&token).await, 401, "unauthorized").await;
    }
    // Ballot's own access token is not an ID token of a trusted issuer.
    let guest: Value = post_json(&client(), "/v1/auth/guest", &json!({})).await.json().await.unwrap();
    assert_problem(exchange(guest["access_token"].as_str().unwrap()).await, 401, "unauthorized").await;
    let bad = post_json(&client(), "/v1/auth/federated", &json!({"id_token": "x", "extra": 1})).await;
    assert_problem(bad, 400, "validation-failed").await;
}
