//! `GET /v1/docs` through the local gateway and in headless Chromium: the interactive
//! reference (Swagger UI, vendored at the pinned version) renders every operation of the
//! served document, "Try it out" of `GET /v1/health` from the page answers 200, and its
//! CSP (its own origin only) is never violated. `/v1/health` links to it.

use ballot_tests::{api, browser::Browser, client, operations, repo_root};
use serde_json::Value;

const FILES: [(&str, &str); 2] =
    [("swagger-ui-bundle.js", "text/javascript; charset=utf-8"), ("swagger-ui.css", "text/css; charset=utf-8")];

fn vendored(file: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("functions/docs/vendor/swagger-ui").join(file)).expect("a vendored file")
}

#[test]
fn given_the_pinned_swagger_ui_then_the_vendored_files_are_its_own_with_its_license() {
    let tools: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("infra/node/package.json")).unwrap()).unwrap();
    let pinned = tools["dependencies"]["swagger-ui-dist"].as_str().expect("swagger-ui-dist is pinned");
    let package = repo_root().join(".venv/node/node_modules/swagger-ui-dist");
    let installed: Value =
        serde_json::from_str(&std::fs::read_to_string(package.join("package.json")).expect("installed")).unwrap();
    assert_eq!(installed["version"], pinned, "infra/install.sh installs the pinned version");
    for (file, _) in FILES.iter().chain(&[("LICENSE", ""), ("NOTICE", ""), ("swagger-ui-bundle.js.LICENSE.txt", "")]) {
        let upstream = std::fs::read(package.join(file)).unwrap();
        assert!(
            vendored(file) == upstream,
            "functions/docs/vendor/swagger-ui/{file} is not swagger-ui-dist {pinned}'s"
        );
    }
}

#[tokio::test]
async fn given_the_page_then_a_csp_of_its_own_origin_and_only_its_two_files() {
    let page = client().get(format!("{}/v1/docs", api())).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("default-src 'none';") && csp.contains("connect-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-") && !csp.contains('*') && !csp.contains("http"), "nothing from elsewhere: {csp}");
    for (file, content_type) in FILES {
        let served = client().get(format!("{}/v1/docs/{file}", api())).send().await.unwrap();
        assert_eq!(served.status(), 200, "{file}");
        assert_eq!(served.headers()["content-type"], content_type);
        assert_eq!(served.headers()["x-content-type-options"], "nosniff");
        assert!(served.bytes().await.unwrap() == vendored(file), "{file} is the vendored file");
        // The API's MinimumCompressionSize: a browser asking for gzip gets it.
        let gzipped =
            client().get(format!("{}/v1/docs/{file}", api())).header("accept-encoding", "gzip, deflate, br").send();
        let gzipped = gzipped.await.unwrap();
        assert_eq!(gzipped.headers()["content-encoding"], "gzip", "{file}");
        assert!(gzipped.headers().get_all("vary").iter().any(|v| v == "Accept-Encoding"), "{file}: shared caches");
        let bytes = gzipped.bytes().await.unwrap();
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut decoded).unwrap();
        assert!(decoded == vendored(file), "{file} gzipped is the vendored file");
        println!("{file}: {} bytes, {} gzipped", decoded.len(), bytes.len());
    }
    for other in ["swagger-ui-bundle.js.map", "..%2F..%2Fpage.html", "LICENSE"] {
        let refused = client().get(format!("{}/v1/docs/{other}", api())).send().await.unwrap();
        ballot_tests::assert_problem(refused, 404, "not-found").await;
    }

    let health = client().get(format!("{}/v1/health", api())).send().await.unwrap();
    assert_eq!(health.headers()["link"], r#"<docs>; rel="service-doc", <openapi.json>; rel="service-desc""#);
    let url = health.url().clone();
    let body: Value = health.json().await.unwrap();
    let docs = url.join(body["links"]["docs"].as_str().unwrap()).unwrap();
    assert_eq!(docs.as_str(), format!("{}/v1/docs", api()), "the health link resolves to the page");
    let document = url.join(body["links"]["openapi"].as_str().unwrap()).unwrap();
    assert_eq!(client().get(document).send().await.unwrap().status(), 200);
}

/// Swagger UI's element id of each operation (`operations-<tag>-<operationId>`, under
/// every tag it has).
fn operation_ids() -> Vec<String> {
    let mut ids = vec![];
    for (_, _, operation) in operations() {
        let id = operation["operationId"].as_str().expect("every operation has an id");
        for tag in operation["tags"].as_array().expect("every operation is tagged") {
            ids.push(format!("operations-{}-{id}", tag.as_str().unwrap()));
        }
    }
    ids
}

#[tokio::test]
async fn given_the_page_in_chromium_then_every_operation_and_a_health_call_tried_from_it() {
    let ids = operation_ids();
    let mut browser = Browser::start().await;
    browser.open(&format!("{}/v1/docs", api())).await;
    let count = format!("document.querySelectorAll('.opblock').length === {}", ids.len());
    browser.wait_for(&count, 30, "every operation rendered").await;
    let missing = browser
        .eval(&format!("{}.filter(id => !document.getElementById(id))", serde_json::to_string(&ids).unwrap()))
        .await;
    assert_eq!(missing, serde_json::json!([]), "operations the page does not show");

    let health = "document.getElementById('operations-meta-getHealth')";
    browser.eval(&format!("{health}.querySelector('.opblock-summary-control').click()")).await;
    browser.wait_for(&format!("!!{health}.querySelector('.try-out__btn')"), 10, "a Try it out button").await;
    browser.eval(&format!("{health}.querySelector('.try-out__btn').click()")).await;
    browser.wait_for(&format!("!!{health}.querySelector('.btn.execute')"), 10, "an Execute button").await;
    browser.eval(&format!("{health}.querySelector('.btn.execute').click()")).await;
    let status = format!(
        "[...{health}.querySelectorAll('.live-responses-table tbody .response-col_status')].map(c => c.textContent.trim())"
    );
    browser.wait_for(&format!("{status}.length > 0"), 20, "the tried call's answer").await;
    assert_eq!(browser.eval(&status).await, serde_json::json!(["200"]), "the tried call's status");
    let url = browser.eval(&format!("{health}.querySelector('.request-url pre').textContent")).await;
    let tried = url.as_str().unwrap_or_default();
    assert!(tried.starts_with(&format!("{}/v1/health", api())), "tried against the page's own origin: {tried}");
    browser.eval(&format!("{health}.scrollIntoView()")).await;
    let shot = std::env::temp_dir().join(format!("ballot-docs-page-{}.png", std::process::id()));
    browser.screenshot(&shot).await;
    println!("screenshot: {}", shot.display());

    let problems = browser.problems();
    assert!(problems.is_empty(), "no CSP violation or script error: {problems:?}");
    // And the check sees one: the page may call no other origin.
    browser.assert_csp_refuses("fetch('http://127.0.0.2:9/').catch(() => {})").await;
}
