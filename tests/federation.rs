//! Federated sign-in through the local gateway, with the local OIDC issuer that
//! `make test` runs (`ballot-local oidc-issuer`): a trusted issuer's ID token is accepted
//! and linked to one account (created as `viewer`), and everything else about it is
//! checked like ballot's own tokens.

use ballot_tests::{api, assert_problem, client, required_env};
use serde_json::Value;

async fn id_token(query: &str) -> String {
    let issuer = required_env("BALLOT_OIDC_ISSUER");
    let body: Value = client().get(format!("{issuer}/token?{query}")).send().await.unwrap().json().await.unwrap();
    body["id_token"].as_str().expect("the issuer minted a token").to_owned()
}

async fn me(token: &str) -> reqwest::Response {
    client().get(format!("{}/v1/me", api())).bearer_auth(token).send().await.unwrap()
}

fn subject() -> String {
    format!("user-{}", shared::ids::random_id())
}

#[tokio::test]
async fn given_a_trusted_id_token_when_used_then_an_account_is_linked_once_as_viewer() {
    let sub = subject();
    let first = me(&id_token(&format!("sub={sub}&aud=ballot-test&email=fed%40example.com")).await).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["roles"], serde_json::json!(["viewer"]));
    assert_eq!(first["email"], "fed@example.com");
    let again: Value = me(&id_token(&format!("sub={sub}&aud=ballot-test")).await).await.json().await.unwrap();
    assert_eq!(again["id"], first["id"], "the same (issuer, subject) is the same account");
}

#[tokio::test]
async fn given_concurrent_first_sights_of_one_identity_then_one_account() {
    let sub = subject();
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(id_token(&format!("sub={sub}&aud=ballot-test")).await);
    }
    let calls: Vec<_> = tokens
        .into_iter()
        .map(|token| tokio::spawn(async move { me(&token).await.json::<Value>().await.unwrap()["id"].clone() }))
        .collect();
    let mut ids = Vec::new();
    for call in calls {
        ids.push(call.await.unwrap().as_str().expect("an account").to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn given_wrong_audience_or_expired_id_tokens_then_401() {
    for query in
        [format!("sub={}&aud=someone-else", subject()), format!("sub={}&aud=ballot-test&expires_in=-120", subject())]
    {
        assert_problem(me(&id_token(&query).await).await, 401, "unauthorized").await;
    }
}
