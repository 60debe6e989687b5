//! Account mail end to end, through the local gateway with the mail read from moto's
//! mailbox: register answers the same for a taken and a free email (each mailbox learns
//! which), a verification link verifies once, a `verified` poll refuses unverified
//! accounts, a reset link sets a new password once and kills every older token, and a
//! used or expired link is a 400 naming `#/token`.

use ballot_core::{
    clock::epoch_secs,
    ids,
    ports::{LinkPurpose, LinkToken, LinkTokens},
};
use ballot_tests::{
    Mail, api, assert_conforms, assert_problem, call, client, client_from, env_number, fresh_address, next_mail,
    post_json, token_in, unique_email, window_start,
};
use serde_json::{Value, json};

const PASSWORD: &str = "a perfectly long passphrase";
const NEW_PASSWORD: &str = "another perfectly long passphrase";

/// Registers `email` from an address of its own: the status and the body.
async fn register(email: &str, display_name: &str) -> (u16, String) {
    let body = json!({"email": email, "password": PASSWORD, "display_name": display_name});
    let response = post_json(&client_from(&fresh_address()), "/v1/auth/register", &body).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Registers `email` and returns the verification mail.
async fn registered(email: &str) -> Mail {
    assert_eq!(register(email, "Ann").await.0, 202);
    next_mail(email, 0).await
}

async fn login(email: &str, password: &str) -> reqwest::Response {
    post_json(&client_from(&fresh_address()), "/v1/auth/login", &json!({"email": email, "password": password})).await
}

/// Signs in and returns the tokens.
async fn tokens(email: &str, password: &str) -> Value {
    let response = login(email, password).await;
    assert_eq!(response.status(), 200, "login of {email}");
    response.json().await.unwrap()
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

async fn me(access_token: &str) -> reqwest::Response {
    client().get(format!("{}/v1/me", api())).bearer_auth(access_token).send().await.unwrap()
}

async fn verify(token: &str) -> reqwest::Response {
    post_json(&client(), "/v1/auth/verify-email", &json!({"token": token})).await
}

async fn reset(token: &str, password: &str) -> reqwest::Response {
    post_json(&client(), "/v1/auth/password-reset/confirm", &json!({"token": token, "password": password})).await
}

async fn refused_token(response: reqwest::Response) {
    let problem = assert_problem(response, 400, "validation-failed").await;
    assert_eq!(problem["errors"][0]["pointer"], "#/token", "{problem}");
}

#[tokio::test]
async fn given_a_taken_and_a_free_email_when_registering_then_the_same_answer_and_the_mailbox_learns_which() {
    let email = unique_email("taken");
    let free = register(&email, "Ann").await;
    let verification = next_mail(&email, 0).await;
    let taken = register(&email, "Mallory").await;
    assert_eq!(free, taken, "the same status and body for a free and a taken email");
    assert_eq!(free.0, 202);
    assert_conforms("POST", "/v1/auth/register", 202, &serde_json::from_str(&free.1).unwrap());

    assert!(verification.body.contains("/verify-email#token="), "{verification:?}");
    let already = next_mail(&email, 1).await;
    assert!(!already.body.contains("#token="), "no link for someone who is not the owner: {already:?}");
    assert_ne!(already.subject, verification.subject, "the owner learns someone tried: {already:?}");
    assert!(!already.body.contains(PASSWORD), "no password in a mail");
    assert_eq!(login(&email, PASSWORD).await.status(), 200, "the first account stands");
}

#[tokio::test]
async fn given_the_verification_mail_when_its_link_is_followed_then_verified_once() {
    let email = unique_email("verify");
    let mail = registered(&email).await;
    let token = token_in(&mail.body);
    let before = tokens(&email, PASSWORD).await;
    let profile: Value = me(access(&before)).await.json().await.unwrap();
    assert_eq!(profile["email_verified"], false);

    let verified = verify(&token).await;
    assert_eq!(verified.status(), 200);
    let body: Value = verified.json().await.unwrap();
    assert_conforms("POST", "/v1/auth/verify-email", 200, &body);
    assert_eq!(
        (body["user"]["email"].as_str(), body["user"]["email_verified"].as_bool()),
        (Some(email.as_str()), Some(true))
    );
    let after = tokens(&email, PASSWORD).await;
    let profile: Value = me(access(&after)).await.json().await.unwrap();
    assert_eq!(profile["email_verified"], true);

    refused_token(verify(&token).await).await;
    refused_token(verify("not-a-token-anyone-was-sent").await).await;
}

/// A link stored with a past expiry (the table's TTL removes such items late, if ever:
/// the spend's condition is what refuses them).
#[tokio::test]
async fn given_expired_links_when_followed_then_400_and_nothing_changes() {
    let email = unique_email("expired");
    registered(&email).await;
    let user_id = {
        let profile: Value = me(access(&tokens(&email, PASSWORD).await)).await.json().await.unwrap();
        profile["id"].as_str().unwrap().to_owned()
    };
    let store = ballot_tests::local_store().await;
    let expired = |purpose: LinkPurpose| {
        let token = ids::random_token(32);
        let link = LinkToken {
            hash: ids::sha256_hex(&token),
            purpose,
            user_id: user_id.clone(),
            expires_at: epoch_secs() - 1,
        };
        (token, link)
    };
    let (verification, link) = expired(LinkPurpose::VerifyEmail);
    store.store_link_token(&link).await.unwrap();
    let (reset_token, link) = expired(LinkPurpose::ResetPassword);
    store.store_link_token(&link).await.unwrap();

    refused_token(verify(&verification).await).await;
    refused_token(reset(&reset_token, NEW_PASSWORD).await).await;
    refused_token(verify(&reset_token).await).await;
    let profile: Value = me(access(&tokens(&email, PASSWORD).await)).await.json().await.unwrap();
    assert_eq!(profile["email_verified"], false, "an expired link verified nothing");
}

#[tokio::test]
async fn given_a_verified_poll_when_an_unverified_account_votes_then_403_until_it_verifies() {
    let (owner, ..) = ballot_tests::token_for_account(&[ballot_core::access::Role::Editor]).await;
    let body = json!({"question": "Verified only?", "options": [{"text": "a"}, {"text": "b"}], "voters": "verified"});
    let response = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let poll: Value = response.json().await.unwrap();
    assert_eq!((poll["voters"].as_str(), poll["allow_guests"].as_bool()), (Some("verified"), Some(false)));
    let vote = |token: String| {
        let path = format!("/v1/polls/{}/votes", poll["id"].as_str().unwrap());
        let picks = json!({"option_ids": [poll["options"][0]["id"]]});
        async move { call("POST", &path, &token).json(&picks).send().await.unwrap() }
    };

    let email = unique_email("unverified");
    let mail = registered(&email).await;
    let unverified = access(&tokens(&email, PASSWORD).await).to_owned();
    assert_problem(vote(unverified).await, 403, "forbidden").await;
    let guest: Value =
        post_json(&client_from(&fresh_address()), "/v1/auth/guest", &json!({})).await.json().await.unwrap();
    assert_problem(vote(access(&guest).to_owned()).await, 403, "forbidden").await;

    assert_eq!(verify(&token_in(&mail.body)).await.status(), 200);
    // A token issued after verifying carries it (the authorizer's answer for a token is
    // cached, so the one from before may still say unverified).
    let verified = access(&tokens(&email, PASSWORD).await).to_owned();
    assert_eq!(vote(verified).await.status(), 201);
}

#[tokio::test]
async fn given_a_reset_when_its_link_is_followed_then_the_new_password_works_and_every_older_token_is_dead() {
    let email = unique_email("reset");
    registered(&email).await;
    let first = tokens(&email, PASSWORD).await;
    // A second session whose access token is not used before the reset (the authorizer
    // caches its answer per token, as API Gateway does, for up to 5 minutes).
    let unused = tokens(&email, PASSWORD).await;

    let stranger = unique_email("nobody");
    for address in [&email, &stranger] {
        let response =
            post_json(&client_from(&fresh_address()), "/v1/auth/password-reset", &json!({"email": address})).await;
        assert_eq!(response.status(), 202);
    }
    let none = next_mail(&stranger, 0).await;
    assert!(!none.body.contains("#token="), "an address with no account gets no link: {none:?}");
    let mail = next_mail(&email, 1).await;
    assert!(mail.body.contains("/reset-password#token="), "{mail:?}");
    let token = token_in(&mail.body);

    let weak = assert_problem(reset(&token, "short").await, 400, "validation-failed").await;
    assert_eq!(weak["errors"][0]["pointer"], "#/password", "a weak password does not spend the link: {weak}");
    assert_eq!(reset(&token, NEW_PASSWORD).await.status(), 204);
    refused_token(reset(&token, "yet another long passphrase").await).await;

    let refresh = |tokens: &Value| {
        let body = json!({"refresh_token": tokens["refresh_token"]});
        async move { post_json(&client(), "/v1/auth/refresh", &body).await }
    };
    assert_problem(refresh(&first).await, 401, "unauthorized").await;
    assert_problem(refresh(&unused).await, 401, "unauthorized").await;
    assert_eq!(me(access(&unused)).await.status(), 401, "an access token from before the reset");
    assert_problem(login(&email, PASSWORD).await, 401, "unauthorized").await;
    let after = tokens(&email, NEW_PASSWORD).await;
    let profile: Value = me(access(&after)).await.json().await.unwrap();
    assert_eq!(profile["email_verified"], true, "the reset link reached the mailbox");
    assert_eq!(refresh(&after).await.status(), 200);
}

/// Registrations of one address from many clients at once: every one answers 202, and
/// the mailbox gets at most the limit per window the burst touched.
#[tokio::test]
async fn given_many_registrations_of_one_address_then_its_mailbox_gets_no_more_than_the_limit() {
    let defaults = ballot_tests::template().parameter_defaults();
    let limit: u64 = defaults["MailLimitPerRecipient"].as_deref().unwrap().parse().unwrap();
    let window = env_number("BALLOT_LIMIT_WINDOW");
    let email = unique_email("bombed");
    window_start(window).await;
    let started = epoch_secs();
    let attempts: Vec<_> = (0..limit + 5)
        .map(|_| {
            let email = email.clone();
            tokio::spawn(async move { register(&email, "Bomber").await.0 })
        })
        .collect();
    for attempt in attempts {
        assert_eq!(attempt.await.unwrap(), 202);
    }
    // Every mail is sent before its 202: the mailbox is complete now.
    let windows = epoch_secs() / window - started / window + 1;
    let mails = ballot_tests::mail_to(&email).await.len() as u64;
    assert!((1..=limit * windows).contains(&mails), "{mails} mails in {windows} windows of at most {limit}");
}
