//! `GET /v1/polls/{id}/live` through the local gateway and in headless Chromium: the page
//! is the same for every poll (no poll data in it) with a CSP that allows its own style
//! and script and `connect-src` the WebSocket API's origin only; in the browser it shows
//! the question and a bar per option whose counts move as votes arrive, with no CSP
//! violation or script error, then the closed state; hidden results and a deleted poll
//! get states of their own.

use ballot_core::access::Role;
use ballot_tests::{api, browser::Browser, call, client, required_env, token_for};
use serde_json::{Value, json};

/// A new editor's poll with `settings` and its options' ids.
async fn poll(question: &str, settings: Value) -> (String, String, Vec<String>) {
    let owner = token_for(&[Role::Editor]).await;
    let mut body =
        json!({"question": question, "options": [{"text": "Tea <b>"}, {"text": "Coffee"}], "allow_guests": true});
    body.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    let options = poll["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    (owner, poll["id"].as_str().unwrap().to_owned(), options)
}

fn page_url(id: &str) -> String {
    format!("{}/v1/polls/{id}/live", api())
}

#[tokio::test]
async fn given_two_polls_then_one_page_without_their_data_and_a_csp_for_the_socket_only() {
    let (_, first, _) = poll("First secret question?", json!({"results_visibility": "always"})).await;
    let (_, second, _) = poll("Second?", json!({"results_visibility": "owner"})).await;
    let a = client().get(page_url(&first)).send().await.unwrap();
    assert_eq!(a.status(), 200);
    assert_eq!(a.headers()["content-type"], "text/html; charset=utf-8");
    let csp = a.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let ws = required_env("BALLOT_WS_URL");
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(csp.contains(&format!("connect-src {ws};")), "exactly the WebSocket API's origin: {csp}");
    assert!(!csp.contains("unsafe-") && !csp.contains('*') && !csp.contains("http"), "{csp}");
    let body = a.text().await.unwrap();
    assert!(!body.contains("First secret question?") && !body.contains(&first), "no poll data in the page");
    let b = client().get(page_url(&second)).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, b, "one page for every poll");
    let bad = client().get(page_url("not%20an%20id")).send().await.unwrap();
    ballot_tests::assert_problem(bad, 404, "not-found").await;
}

#[tokio::test]
async fn given_a_public_poll_in_chromium_then_its_bars_move_as_votes_arrive_and_it_ends_closed() {
    let (owner, id, options) = poll("Tea or coffee?", json!({"results_visibility": "always"})).await;
    ballot_tests::vote_as_new_viewer(&id, &options[0]).await;
    let mut browser = Browser::start().await;
    browser.open(&page_url(&id)).await;
    browser.wait_for("document.getElementById('question').textContent === 'Tea or coffee?'", 30, "the question").await;
    browser.wait_for("document.getElementById('total').textContent === '1 ballot'", 30, "the first results").await;
    let first = browser.eval("[...document.querySelectorAll('#options li')].map(li => li.innerText)").await;
    assert_eq!(first, json!(["Tea <b>\n1 · 100%", "Coffee\n0 · 0%"]), "markup in an option is text");
    assert_eq!(browser.eval("document.querySelectorAll('#options b').length").await, json!(0));

    for option in [&options[1], &options[1], &options[1]] {
        ballot_tests::vote_as_new_viewer(&id, option).await;
    }
    browser.wait_for("document.getElementById('total').textContent === '4 ballots'", 60, "the pushed results").await;
    let moved = browser.eval("[...document.querySelectorAll('#options li')].map(li => li.innerText)").await;
    assert_eq!(moved, json!(["Tea <b>\n1 · 25%", "Coffee\n3 · 75%"]));
    let width = browser.eval("document.querySelectorAll('#options .fill')[1].style.width").await;
    assert_eq!(width, json!("75%"), "the bar's length is the percentage");
    let shot = std::env::temp_dir().join(format!("ballot-live-page-{id}.png"));
    browser.screenshot(&shot).await;
    println!("screenshot: {}", shot.display());

    assert_eq!(call("POST", &format!("/v1/polls/{id}/close"), &owner).send().await.unwrap().status(), 200);
    browser.wait_for("document.getElementById('state').dataset.kind === 'closed'", 60, "the closed state").await;
    let problems = browser.problems();
    assert!(problems.is_empty(), "no CSP violation or script error: {problems:?}");

    // And the check sees one: the page may connect nowhere else.
    browser
        .assert_csp_refuses("try { new WebSocket('ws://127.0.0.2:9/'); } catch (e) { console.error(String(e)); }")
        .await;
}

#[tokio::test]
async fn given_hidden_results_or_a_deleted_poll_in_chromium_then_their_states() {
    let (_, hidden, _) = poll("Hidden?", json!({"results_visibility": "owner"})).await;
    let mut browser = Browser::start().await;
    browser.open(&page_url(&hidden)).await;
    browser.wait_for("document.getElementById('state').dataset.kind === 'hidden'", 30, "the hidden state").await;
    assert_eq!(browser.eval("document.querySelectorAll('#options li').length").await, json!(0));

    let (owner, id, _) = poll("Going away?", json!({"results_visibility": "always"})).await;
    browser.open(&page_url(&id)).await;
    browser.wait_for("document.getElementById('state').dataset.kind === 'live'", 30, "the live state").await;
    assert_eq!(call("DELETE", &format!("/v1/polls/{id}"), &owner).send().await.unwrap().status(), 204);
    browser.wait_for("document.getElementById('state').dataset.kind === 'deleted'", 60, "the deleted state").await;
    assert_eq!(browser.eval("document.querySelectorAll('#options li').length").await, json!(0));
}
