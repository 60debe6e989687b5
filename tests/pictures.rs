//! `GET /v1/polls/{id}/results.svg` through the local gateway, without a token: a
//! well-formed SVG of results everyone sees that renders in headless Chromium, markup in the question shown as text, the
//! results' ETag (304) and public caching; 404 for a poll whose results are hidden, as
//! for one that does not exist.

use ballot_core::access::Role;
use ballot_tests::{api, browser::Browser, call, client, token_for};
use serde_json::{Value, json};

/// A poll of a new editor asking `question`, with `settings`, and one vote for its first option.
async fn voted_poll(question: &str, settings: Value) -> (String, String) {
    let owner = token_for(&[Role::Editor]).await;
    let mut body = json!({"question": question, "options": [{"text": "a < b"}, {"text": "b & c"}]});
    body.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    let id = poll["id"].as_str().unwrap().to_owned();
    ballot_tests::vote_as_new_viewer(&id, poll["options"][0]["id"].as_str().unwrap()).await;
    ballot_tests::assert_recounted(&id).await;
    (owner, id)
}

#[tokio::test]
async fn given_results_everyone_sees_then_an_anonymous_svg_with_its_text_escaped_and_an_etag() {
    let question = r#"<script>alert(1)</script>&"' ?"#;
    let (owner, id) = voted_poll(question, json!({"results_visibility": "always"})).await;
    let url = format!("{}/v1/polls/{id}/results.svg", api());
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/svg+xml; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=5");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let json_etag = call("GET", &format!("/v1/polls/{id}/results"), &owner).send().await.unwrap();
    assert_eq!(json_etag.headers()["etag"].to_str().unwrap(), etag, "the JSON results' ETag");
    let svg = response.text().await.unwrap();

    let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!((root.tag_name().name(), root.tag_name().namespace()), ("svg", Some("http://www.w3.org/2000/svg")));
    assert!(document.descendants().all(|n| n.tag_name().name() != "script"), "no element from the question");
    let title = document.descendants().find(|n| n.has_tag_name("title")).unwrap();
    assert_eq!(title.text(), Some(question), "the question, as text");
    let texts: Vec<&str> = document.descendants().filter_map(|n| n.text()).collect();
    assert!(texts.contains(&"a < b") && texts.contains(&"b & c"), "{texts:?}");
    assert!(texts.contains(&"1 (100%)"), "votes and percentage: {texts:?}");
    assert!(texts.contains(&"1 ballot"), "{texts:?}");

    let again = client().get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    // Rendered by Chromium as an image document: no XML error page, no script run, the
    // question as text, and bars with their length.
    let mut browser = Browser::start().await;
    browser.open(&url).await;
    let root = browser.eval("[document.documentElement.namespaceURI, document.documentElement.localName]").await;
    assert_eq!(root, json!(["http://www.w3.org/2000/svg", "svg"]), "an SVG document");
    assert_eq!(browser.eval("document.getElementsByTagName('parsererror').length").await, json!(0));
    let shown = browser.eval("document.querySelector('text').textContent").await;
    assert_eq!(shown.as_str().map(|t| t.starts_with("<script>")), Some(true), "the question as text: {shown}");
    let widths = browser.eval("[...document.querySelectorAll('rect')].map(r => Math.round(r.getBBox().width))").await;
    let widths: Vec<u64> = widths.as_array().unwrap().iter().map(|w| w.as_u64().unwrap()).collect();
    // The frame, then per option its track and its fill: 100% and 0% of the one ballot.
    assert_eq!(widths.len(), 5, "{widths:?}");
    assert!(widths[0] > widths[1] && widths[1] > 0, "the frame and a track are drawn: {widths:?}");
    assert_eq!((widths[2], widths[4]), (widths[1], 0), "the bars' lengths are the percentages: {widths:?}");
    let shot = std::env::temp_dir().join(format!("ballot-results-svg-{id}.png"));
    browser.screenshot(&shot).await;
    println!("screenshot: {}", shot.display());
    let errors: Vec<&String> = browser.messages.iter().filter(|m| m.starts_with("error")).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn given_hidden_or_unknown_polls_then_404_alike() {
    for visibility in ["after_vote", "after_close", "owner"] {
        let (_, id) = voted_poll("Hidden?", json!({"results_visibility": visibility})).await;
        let response = client().get(format!("{}/v1/polls/{id}/results.svg", api())).send().await.unwrap();
        let hidden = ballot_tests::assert_problem(response, 404, "not-found").await;
        let response = client().get(format!("{}/v1/polls/nosuchpoll0000000000000/results.svg", api())).send().await;
        let unknown = ballot_tests::assert_problem(response.unwrap(), 404, "not-found").await;
        assert_eq!(hidden["title"], unknown["title"], "{visibility}: no hint");
        assert_eq!(hidden["detail"], unknown["detail"], "{visibility}: no hint");
    }
}
