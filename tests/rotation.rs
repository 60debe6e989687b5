//! Key rotations, which `make test` runs alone after the other tests (each changes a key
//! the others sign with): ballot's own (`make rotate-keys`: tokens of the previous key
//! stay valid, new tokens carry the new key, `jwks.json` lists both; functions cache the
//! key set for 1 s in tests), and a trusted issuer's (its new kid is fetched).

use ballot_tests::{api, client, exchange, get_me, id_token, local_keys, new_subject, post_json, required_env};
use serde_json::Value;

async fn guest_token() -> String {
    let body: Value = post_json(&client(), "/v1/auth/guest", &serde_json::json!({})).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn given_a_rotation_when_old_and_new_tokens_are_used_then_both_work_and_jwks_lists_both() {
    let old_kid = local_keys().await.current_kid().to_owned();
    let old_token = guest_token().await;
    assert_eq!(kid_of(&old_token), old_kid);

    let clients = ballot_local::bootstrap::Clients::from_env().await;
    let stack = required_env("BALLOT_STACK");
    let (secret_id, public_id) = (format!("{stack}-SigningKeysSecret"), format!("{stack}-VerificationKeysSecret"));
    let new_kid = ballot_local::ops::rotate_signing_keys(&clients.secrets, &secret_id, &public_id).await.unwrap();
    let public = clients.secrets.get_secret_value().secret_id(&public_id).send().await.unwrap();
    let public = public.secret_string().unwrap();
    assert!(public.contains(&new_kid) && public.contains(&old_kid) && !public.contains("pkcs8"), "{public}");
    assert_ne!(new_kid, old_kid);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await; // the functions' 1 s key cache

    let new_token = guest_token().await;
    assert_eq!(kid_of(&new_token), new_kid);
    for token in [&old_token, &new_token] {
        let me = client().get(format!("{}/v1/me", api())).bearer_auth(token).send().await.unwrap();
        assert_eq!(me.status(), 200, "a token of key {}", kid_of(token));
    }
    let jwks: Value =
        client().get(format!("{}/.well-known/jwks.json", api())).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}");
}

#[tokio::test]
async fn given_the_issuer_rotates_its_key_then_the_new_kid_is_fetched_once() {
    let issuer = required_env("BALLOT_OIDC_ISSUER");
    let subject = new_subject();
    let before = id_token(&format!("sub={subject}&aud=ballot-test")).await;
    assert_eq!(exchange(&before).await.status(), 200, "the identity is linked");
    assert_eq!(get_me(&before).await.status(), 200, "the JWKS is cached");
    client().post(format!("{issuer}/rotate")).send().await.unwrap();
    let after = id_token(&format!("sub={subject}&aud=ballot-test")).await;
    // Refetches are rate limited per issuer: right after a fetch, an unknown kid is refused.
    tokio::time::sleep(shared::auth::federation::REFETCH_INTERVAL + std::time::Duration::from_secs(1)).await;
    assert_eq!(get_me(&after).await.status(), 200, "an unknown kid refetches the issuer's JWKS");
}
