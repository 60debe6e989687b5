//! Accounts through the local gateway: registration and its per-address limit, login,
//! refresh rotation and reuse, logout, the failed-login limits (and that strangers
//! cannot use them to lock an owner out), and bad input on every route that takes a body.

use ballot_tests::{
    api, assert_problem, client, client_from, concrete_path, env_number, fresh_address, post_json, template, token_for,
    unique_email, window_start,
};
use futures_free::join_all;
use serde_json::{Value, json};

const PASSWORD: &str = "a perfectly long passphrase";

mod futures_free {
    /// Runs the futures concurrently on the test's runtime and waits for all of them.
    pub async fn join_all<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.expect("task"));
        }
        out
    }
}

/// Registers from an address of its own, so tests do not share a registration limit.
async fn register(email: &str) -> reqwest::Response {
    post_json(
        &client_from(&fresh_address()),
        "/v1/auth/register",
        &json!({"email": email, "password": PASSWORD, "display_name": "Ann"}),
    )
    .await
}

async fn login(client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
    post_json(client, "/v1/auth/login", &json!({"email": email, "password": password})).await
}

async fn signed_in(email: &str) -> Value {
    assert_eq!(register(email).await.status(), 202);
    let response = login(&client(), email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(token: &str) -> reqwest::Response {
    post_json(&client(), "/v1/auth/refresh", &json!({"refresh_token": token})).await
}

#[tokio::test]
async fn given_a_new_account_when_registering_and_signing_in_then_the_profile_and_tokens() {
    let email = unique_email("Ann");
    let response = register(&format!("  {}  ", email.to_uppercase())).await;
    assert_eq!(response.status(), 202);
    let text = response.text().await.unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("argon2"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body["message"].as_str().is_some_and(|m| m.contains("inbox")), "{body}");

    let tokens: Value = login(&client(), &email, PASSWORD).await.json().await.unwrap();
    assert_eq!((tokens["token_type"].as_str(), tokens["expires_in"].as_u64()), (Some("Bearer"), Some(900)));
    let me = client()
        .get(format!("{}/v1/me", api()))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!((me["email"].as_str(), me["display_name"].as_str()), (Some(email.as_str()), Some("Ann")));
    assert_eq!(me["roles"], json!(["editor"]));
    assert!(me["id"].as_str().is_some_and(|id| id.len() >= 22) && me["created_at"].is_string());
    assert_eq!(me["email_verified"], false, "until the link in the mail is followed");
    assert!(me.get("password_hash").is_none() && me.get("epoch").is_none());
}

/// 20 registrations of one email at once (spellings differ): every one gets the same 202,
/// one account exists, and the mailbox gets at most one verification link, within its
/// per-recipient limit.
#[tokio::test]
async fn given_20_parallel_registrations_of_one_email_then_one_account_and_the_same_answer_to_all() {
    let email = unique_email("race");
    let window = env_number("BALLOT_LIMIT_WINDOW");
    window_start(window).await;
    let started = ballot_core::clock::epoch_secs();
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            // Case and spaces differ: uniqueness is after normalisation.
            let variant = if i % 2 == 0 { email.clone() } else { format!(" {} ", email.to_uppercase()) };
            async move {
                let response = register(&variant).await;
                (response.status().as_u16(), response.text().await.unwrap())
            }
        })
        .collect();
    let answers = join_all(attempts).await;
    let windows = ballot_core::clock::epoch_secs() / window - started / window + 1;
    assert!(answers.iter().all(|a| a == &answers[0] && a.0 == 202), "{answers:?}");
    assert_eq!(login(&client(), &email, PASSWORD).await.status(), 200, "the account exists");
    let defaults = template().parameter_defaults();
    let limit: usize = defaults["MailLimitPerRecipient"].as_deref().unwrap().parse().unwrap();
    let all = ballot_tests::mail_to(&email).await;
    let links = all.iter().filter(|m| m.body.contains("#token=")).count();
    assert!(all.iter().all(|m| m.to == [email.clone()]), "{all:?}");
    assert!(links <= 1 && all.len() <= limit * windows as usize, "{limit} mails a window, one link at most: {all:?}");
}

#[tokio::test]
async fn given_weak_passwords_when_registering_then_400_naming_the_password() {
    let email = unique_email("weak");
    let common = include_str!("../core/data/common-passwords.txt").lines().find(|p| p.len() >= 12).unwrap();
    for password in ["short", common, email.as_str(), &"x".repeat(129)] {
        let body = json!({"email": email, "password": password, "display_name": "Ann"});
        let problem = assert_problem(
            post_json(&client_from(&fresh_address()), "/v1/auth/register", &body).await,
            400,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["pointer"], "#/password", "{password}: {problem}");
        assert!(!problem.to_string().contains(password), "the password is not echoed");
    }
}

#[tokio::test]
async fn given_an_unknown_email_or_a_wrong_password_then_the_same_401() {
    let email = unique_email("same");
    register(&email).await;
    let client = client_from("127.0.0.5");
    let unknown = assert_problem(login(&client, &unique_email("nobody"), PASSWORD).await, 401, "unauthorized").await;
    let wrong = assert_problem(login(&client, &email, "not the right passphrase").await, 401, "unauthorized").await;
    assert_eq!(
        (unknown["title"].clone(), unknown["detail"].clone()),
        (wrong["title"].clone(), wrong["detail"].clone())
    );
}

#[tokio::test]
async fn given_a_refresh_token_when_used_then_rotated_and_reuse_revokes_the_family() {
    let tokens = signed_in(&unique_email("rotate")).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let rotated: Value = refresh(&first).await.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(rotated["access_token"].is_string());
    // The spent token comes back: a thief or the victim. The whole family is revoked.
    assert_problem(refresh(&first).await, 401, "unauthorized").await;
    assert_problem(refresh(&second).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn given_two_concurrent_refreshes_with_one_token_then_exactly_one_wins() {
    let tokens = signed_in(&unique_email("concurrent")).await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let attempts: Vec<_> = (0..2)
        .map(|_| {
            let token = token.clone();
            async move { refresh(&token).await.status().as_u16() }
        })
        .collect();
    let mut statuses = join_all(attempts).await;
    statuses.sort();
    assert_eq!(statuses, [200, 401]);
}

#[tokio::test]
async fn given_logout_then_the_refresh_token_is_dead_and_unknown_tokens_get_204_too() {
    let tokens = signed_in(&unique_email("logout")).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let logout = post_json(&client(), "/v1/auth/logout", &json!({"refresh_token": token})).await;
    assert_eq!(logout.status(), 204);
    assert_problem(refresh(token).await, 401, "unauthorized").await;
    let unknown = post_json(&client(), "/v1/auth/logout", &json!({"refresh_token": "nope"})).await;
    assert_eq!(unknown.status(), 204);
}

#[tokio::test]
async fn given_50_parallel_wrong_passwords_then_at_most_the_limit_is_checked_and_the_window_then_reopens() {
    let email = unique_email("guess");
    register(&email).await;
    let window = env_number("BALLOT_LIMIT_WINDOW");
    assert!(window <= 10, "make test runs with short windows (BALLOT_LIMIT_WINDOW)");
    window_start(window).await;
    let client = client_from("127.0.0.3");
    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let (client, email) = (client.clone(), email.clone());
            async move {
                let response = login(&client, &email, "a wrong but long passphrase").await;
                (response.status().as_u16(), response.headers().get("retry-after").is_some())
            }
        })
        .collect();
    let results = join_all(attempts).await;
    let checked = results.iter().filter(|r| r.0 == 401).count();
    let limited = results.iter().filter(|r| r.0 == 429).count();
    assert!(checked <= 5 && checked + limited == 50, "401s: {checked}, 429s: {limited}: {results:?}");
    assert!(results.iter().filter(|r| r.0 == 429).all(|r| r.1), "every 429 says when to retry");
    tokio::time::sleep(std::time::Duration::from_secs(window + 1)).await;
    assert_eq!(login(&client, &email, PASSWORD).await.status(), 200, "the right password works after the window");
}

#[tokio::test]
async fn given_registrations_from_one_address_then_429_past_its_limit_and_no_account_for_those() {
    let window = env_number("BALLOT_LIMIT_WINDOW");
    window_start(window).await;
    let client = client_from(&fresh_address());
    let emails: Vec<String> = (0..15).map(|i| unique_email(&format!("bulk{i}"))).collect();
    let attempts: Vec<_> = emails
        .iter()
        .map(|email| {
            let (client, email) = (client.clone(), email.clone());
            async move {
                let body = json!({"email": email, "password": PASSWORD, "display_name": "Bulk"});
                let response = post_json(&client, "/v1/auth/register", &body).await;
                let retry_after = response.headers().get("retry-after").is_some();
                (email, response.status().as_u16(), retry_after)
            }
        })
        .collect();
    let results = join_all(attempts).await;
    let created = results.iter().filter(|r| r.1 == 202).count();
    let refused: Vec<_> = results.iter().filter(|r| r.1 == 429).collect();
    assert_eq!((created, refused.len()), (10, 5), "10 a window from one address: {results:?}");
    assert!(refused.iter().all(|r| r.2), "every 429 says when to retry");
    for (email, ..) in refused {
        let login = login(&client_from(&fresh_address()), email, PASSWORD).await;
        assert_eq!(login.status(), 401, "a refused registration made no account");
    }
    let elsewhere = post_json(
        &client_from(&fresh_address()),
        "/v1/auth/register",
        &json!({"email": unique_email("elsewhere"), "password": PASSWORD, "display_name": "Other"}),
    )
    .await;
    assert_eq!(elsewhere.status(), 202, "the limit is per address");
}

/// 30 addresses spray wrong passwords at one account, paced under the login throttle,
/// until they fill its ceiling; the owner, from an address of its own, still gets in.
#[tokio::test]
async fn given_30_addresses_spraying_wrong_passwords_then_the_owner_from_a_fresh_address_still_gets_in() {
    let (window, ceiling) = (env_number("BALLOT_LIMIT_WINDOW"), env_number("BALLOT_LOGIN_LIMIT_PER_ACCOUNT"));
    let email = unique_email("sprayed");
    assert_eq!(register(&email).await.status(), 202);
    let strangers: Vec<reqwest::Client> = (0..30).map(|_| client_from(&fresh_address())).collect();
    window_start(window).await;
    let spray = {
        let email = email.clone();
        tokio::spawn(async move {
            // 6 a second, each sent on time whatever the answers take: under the method's
            // 10/s, with room for other tests.
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(160));
            let mut sent = Vec::new();
            for round in 0..3 {
                for stranger in &strangers {
                    tick.tick().await;
                    let (stranger, email, guess) = (stranger.clone(), email.clone(), format!("wrong guess {round}"));
                    sent.push(tokio::spawn(async move { login(&stranger, &email, &guess).await.status().as_u16() }));
                }
            }
            let mut statuses = Vec::new();
            for answer in sent {
                statuses.push(answer.await.unwrap());
            }
            statuses
        })
    };
    let store = ballot_tests::local_store().await;
    let mut owner_logins = Vec::new();
    while !spray.is_finished() {
        let full = store.slots_taken("login-account", &email, window, ballot_core::clock::epoch_secs()).await.unwrap();
        if full >= ceiling {
            let owner = login(&client_from(&fresh_address()), &email, PASSWORD).await;
            owner_logins.push(owner.status().as_u16());
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let statuses = spray.await.unwrap();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "no stranger got in: {statuses:?}");
    assert!(!owner_logins.is_empty(), "the strangers filled the ceiling of {ceiling} at least once");
    assert!(owner_logins.iter().all(|s| *s == 200), "the owner got in each time: {owner_logins:?}");
}

/// The web ACL's per-address rule on `/v1/auth/*`, played by the local gateway from the
/// template: spellings of the path count together (URL-decoded, lower-cased), and past
/// the limit the client gets WAF's 429 with `Retry-After` and CORS, while others don't.
#[tokio::test]
async fn given_one_address_past_the_waf_auth_limit_then_429_with_retry_after_and_cors_and_others_unaffected() {
    let window = env_number("BALLOT_WAF_WINDOW");
    let defaults = template().parameter_defaults();
    let limit: usize = defaults["AuthRequestsPerAddress"].as_deref().unwrap().parse().unwrap();
    let client = client_from(&fresh_address());
    window_start(window).await;
    for n in 0..limit {
        let path = ["/v1/auth/nope", "/v1/AUTH/%6Eope", "/V1/Auth/%2e"][n % 3];
        let response = client.post(format!("{}{path}", api())).send().await.unwrap();
        assert_ne!(response.status(), 429, "request {n} of {limit} to {path}");
    }
    let blocked = post_json(&client, "/v1/auth/login", &json!({"email": "a@example.com", "password": "x"})).await;
    assert_eq!(blocked.status(), 429);
    let origin = std::env::var("BALLOT_ALLOWED_ORIGIN").unwrap();
    let header = |name: &str| blocked.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("retry-after"), Some(window.to_string()));
    assert_eq!(header("access-control-allow-origin"), Some(origin));
    let problem: Value = blocked.json().await.unwrap();
    assert_eq!(
        (problem["status"].as_u64(), problem["type"].as_str()),
        (Some(429), Some("urn:ballot:problem:throttled"))
    );
    let health = client.get(format!("{}/v1/health", api())).send().await.unwrap();
    assert_eq!(health.status(), 200, "only /v1/auth/* is limited this tightly");
    let login = json!({"email": "a@example.com", "password": "x"});
    let other = post_json(&client_from(&fresh_address()), "/v1/auth/login", &login).await;
    assert_ne!(other.status(), 429, "per address");
}

/// Bad input on every route that takes a body: too large, malformed, unknown field.
#[tokio::test]
async fn given_write_routes_when_sent_bad_bodies_then_clear_problems() {
    let routes = template().routes().unwrap();
    let writes: Vec<_> = routes.iter().filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH")).collect();
    assert!(!writes.is_empty());
    let client = client_from("127.0.0.4");
    let admin = token_for(&[ballot_core::access::Role::Admin]).await;
    for route in writes {
        let url = format!("{}{}", api(), concrete_path(&route.path));
        let send = |body: Vec<u8>| {
            let request = client.request(route.method.parse().unwrap(), &url).bearer_auth(&admin);
            request.header("content-type", "application/json").body(body).send()
        };
        let too_large = format!(r#"{{"x":"{}"}}"#, "a".repeat(70 * 1024));
        assert_problem(send(too_large.into_bytes()).await.unwrap(), 413, "payload-too-large").await;
        let malformed = assert_problem(send(b"{,}".to_vec()).await.unwrap(), 400, "malformed-json").await;
        assert!(
            malformed["detail"].as_str().unwrap().contains("line 1"),
            "{} {}: {malformed}",
            route.method,
            route.path
        );
        let unknown =
            assert_problem(send(br#"{"surely_not_a_field":1}"#.to_vec()).await.unwrap(), 400, "validation-failed")
                .await;
        assert!(unknown.to_string().contains("surely_not_a_field"), "{} {}: {unknown}", route.method, route.path);
    }
}
