//! Federated sign-in through the local gateway, with the local OIDC issuer that
//! `make test` runs (`ballot-local oidc-issuer`): a trusted issuer's ID token is accepted
//! and linked to one account (created as `viewer`), and everything else about it is
//! checked like ballot's own tokens.

use ballot_tests::{assert_problem, get_me, id_token, new_subject};
use serde_json::Value;

#[tokio::test]
async fn given_a_trusted_id_token_when_used_then_an_account_is_linked_once_as_viewer() {
    let sub = new_subject();
    let first = get_me(&id_token(&format!("sub={sub}&aud=ballot-test&email=fed%40example.com")).await).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["roles"], serde_json::json!(["viewer"]));
    assert_eq!(first["email"], "fed@example.com");
    let again: Value = get_me(&id_token(&format!("sub={sub}&aud=ballot-test")).await).await.json().await.unwrap();
    assert_eq!(again["id"], first["id"], "the same (issuer, subject) is the same account");
}

#[tokio::test]
async fn given_concurrent_first_sights_of_one_identity_then_one_account() {
    let sub = new_subject();
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(id_token(&format!("sub={sub}&aud=ballot-test")).await);
    }
    let calls: Vec<_> = tokens
        .into_iter()
        .map(|token| tokio::spawn(async move { get_me(&token).await.json::<Value>().await.unwrap()["id"].clone() }))
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
    for query in [
        format!("sub={}&aud=someone-else", new_subject()),
        format!("sub={}&aud=ballot-test&expires_in=-120", new_subject()),
    ] {
        assert_problem(get_me(&id_token(&query).await).await, 401, "unauthorized").await;
    }
}
