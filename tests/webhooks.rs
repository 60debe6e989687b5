//! Webhook registration through the local gateway: owner-only, URL and event rules, at
//! most 5 per poll under concurrency, the secret shown once and stored only sealed.

use ballot_core::access::Role;
use ballot_tests::{assert_conforms, assert_problem, call, partition_items, token_for_account};
use futures::future::join_all;
use serde_json::{Value, json};

async fn poll_of(token: &str) -> String {
    let body = json!({"question": "Hooks?", "options": [{"text": "a"}, {"text": "b"}]});
    let poll: Value = call("POST", "/v1/polls", token).json(&body).send().await.unwrap().json().await.unwrap();
    poll["id"].as_str().unwrap().to_owned()
}

fn hook(url: &str) -> Value {
    json!({"url": url, "events": ["vote.cast", "poll.closed"]})
}

#[tokio::test]
async fn given_an_owner_when_webhooks_are_registered_then_five_at_most_and_the_secret_is_shown_once() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let id = poll_of(&owner).await;
    let path = format!("/v1/polls/{id}/webhooks");
    let attempts = join_all((0..8).map(|i| {
        let path = path.clone();
        let owner = owner.clone();
        async move {
            let response = call("POST", &path, &owner)
                .json(&hook(&format!("https://hooks.example.com/{i}")))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
            (status, location, response.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let created: Vec<&Value> = attempts.iter().filter(|(s, _, _)| *s == 201).map(|(_, _, b)| b).collect();
    assert_eq!(created.len(), 5, "{attempts:?}");
    assert_eq!(attempts.iter().filter(|(s, _, _)| *s == 409).count(), 3);
    for (status, location, body) in &attempts {
        assert_conforms("POST", "/v1/polls/{id}/webhooks", *status, body);
        if *status == 201 {
            assert_eq!(location.as_deref(), Some(format!("{path}/{}", body["id"].as_str().unwrap()).as_str()));
            assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
        }
    }

    let listed: Value = call("GET", &path, &owner).send().await.unwrap().json().await.unwrap();
    assert_conforms("GET", "/v1/polls/{id}/webhooks", 200, &listed);
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 5);
    assert!(!listed.to_string().contains("whsec_"), "secrets are shown only at creation");

    // Stored sealed: no item of the poll holds a secret in the clear.
    let items = partition_items(&format!("POLL#{id}#WEBHOOKS")).await;
    assert_eq!(items.len(), 5);
    for secret in created.iter().map(|b| b["secret"].as_str().unwrap()) {
        assert!(!format!("{items:?}").contains(secret.trim_start_matches("whsec_")));
    }

    let first = created[0]["id"].as_str().unwrap();
    assert_eq!(call("DELETE", &format!("{path}/{first}"), &owner).send().await.unwrap().status(), 204);
    assert_problem(call("DELETE", &format!("{path}/{first}"), &owner).send().await.unwrap(), 404, "not-found").await;
    let again = call("POST", &path, &owner).json(&hook("https://hooks.example.com/again")).send().await.unwrap();
    assert_eq!(again.status(), 201, "a slot is free again");
}

#[tokio::test]
async fn given_bad_webhooks_then_400_names_the_field() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let path = format!("/v1/polls/{}/webhooks", poll_of(&owner).await);
    let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
    let cases = [
        (hook("https://user:pass@hooks.example.com/"), "#/url"),
        (hook("ftp://hooks.example.com/"), "#/url"),
        (hook("not a url"), "#/url"),
        (hook(&long), "#/url"),
        (json!({"url": "https://hooks.example.com/", "events": []}), "#/events"),
        (json!({"url": "https://hooks.example.com/", "events": ["vote.cast", "vote.cast"]}), "#/events"),
        (json!({"url": "https://hooks.example.com/", "events": ["vote.eaten"]}), "#/events/0"),
        (json!({"url": "https://hooks.example.com/", "events": ["vote.cast"], "secret": "mine"}), "#/secret"),
    ];
    for (body, pointer) in cases {
        let problem =
            assert_problem(call("POST", &path, &owner).json(&body).send().await.unwrap(), 400, "validation-failed")
                .await;
        assert_conforms("POST", "/v1/polls/{id}/webhooks", 400, &problem);
        assert!(problem["errors"].as_array().unwrap().iter().any(|e| e["pointer"] == pointer), "{body}: {problem}");
    }
    let listed: Value = call("GET", &path, &owner).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["webhooks"], json!([]), "nothing was written");
}

#[tokio::test]
async fn given_another_user_then_webhooks_of_a_poll_are_not_theirs() {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let path = format!("/v1/polls/{}/webhooks", poll_of(&owner).await);
    let created: Value = call("POST", &path, &owner)
        .json(&hook("https://hooks.example.com/x"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (other, _) = token_for_account(&[Role::Editor]).await;
    for request in [
        call("POST", &path, &other).json(&hook("https://evil.example.com/")),
        call("GET", &path, &other),
        call("DELETE", &format!("{path}/{}", created["id"].as_str().unwrap()), &other),
    ] {
        assert_problem(request.send().await.unwrap(), 403, "forbidden").await;
    }
    let viewer = token_for_account(&[Role::Viewer]).await.0;
    assert_problem(call("GET", &path, &viewer).send().await.unwrap(), 403, "forbidden").await;
    let (admin, _) = token_for_account(&[Role::Admin]).await;
    assert_eq!(call("GET", &path, &admin).send().await.unwrap().status(), 200);
}
