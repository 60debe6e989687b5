//! The OpenAPI document (`infra/openapi.yaml`, served at `GET /v1/openapi.json`) and
//! `template.yaml` describe the same routes, and what the API answers matches it.

use ballot_core::access::Role;
use ballot_tests::{api, assert_conforms, client, openapi, operations, post_json, template, token_for};
use serde_json::{Value, json};

#[test]
fn given_template_yaml_and_the_openapi_document_then_they_list_the_same_routes() {
    let mut in_template: Vec<(String, String)> =
        template().routes().unwrap().into_iter().map(|r| (r.method.to_uppercase(), r.path)).collect();
    let mut in_document: Vec<(String, String)> =
        operations().map(|(method, path, _)| (method.to_uppercase(), path.to_owned())).collect();
    in_template.sort();
    in_document.sort();
    assert_eq!(in_template, in_document, "template.yaml and infra/openapi.yaml differ");
}

#[test]
fn given_the_document_then_it_is_openapi_3_1_and_every_operation_documents_its_errors() {
    let document = openapi();
    assert_eq!(document["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    for (method, path, operation) in operations() {
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.contains_key("500"), "{method} {path} documents no 500");
        assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} documents no success");
    }
}

#[tokio::test]
async fn given_the_served_document_then_it_is_the_repository_document() {
    let response = client().get(format!("{}/v1/openapi.json", api())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    assert_eq!(&served, openapi());
}

#[tokio::test]
async fn given_public_and_account_routes_when_called_then_answers_match_the_document() {
    let get = |path: &str, token: Option<&str>| {
        let request = client().get(format!("{}{path}", api()));
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    };
    for (path, token) in [
        ("/v1/health", None),
        ("/.well-known/jwks.json", None),
        ("/v1/me", Some(token_for(&[Role::Viewer]).await)),
        ("/v1/me", Some(token_for(&[Role::Guest]).await)),
        ("/v1/polls/public", Some(token_for(&[Role::Viewer]).await)),
        ("/v1/admin/users?limit=2", Some(token_for(&[Role::Admin]).await)),
    ] {
        let response = get(path, token.as_deref()).send().await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(status, 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_conforms("GET", path.split('?').next().unwrap(), status, &body);
    }
    let refused = get("/v1/me", None).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_conforms("GET", "/v1/me", 401, &refused.json::<Value>().await.unwrap());
    let bad = post_json(&client(), "/v1/auth/login", &json!({"email": "x"})).await;
    assert_eq!(bad.status(), 400);
    assert_conforms("POST", "/v1/auth/login", 400, &bad.json::<Value>().await.unwrap());
}

/// The component a media type's schema names, if it names one.
fn named_schema(media: &Value) -> Option<&str> {
    media["schema"]["$ref"].as_str().map(|r| r.trim_start_matches("#/components/schemas/"))
}

#[test]
fn given_the_document_then_every_json_request_and_answer_has_examples_that_match_it() {
    let document = openapi();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut checked = 0;
    for (name, schema) in schemas {
        for example in schema["examples"].as_array().into_iter().flatten() {
            ballot_tests::assert_matches_schema(&format!("#/components/schemas/{name}"), example);
            checked += 1;
        }
    }
    for (method, path, operation) in operations() {
        let request = named_schema(&operation["requestBody"]["content"]["application/json"]);
        let answers = operation["responses"].as_object().unwrap().iter().filter(|(status, _)| status.starts_with('2'));
        let answers = answers.filter_map(|(_, answer)| named_schema(&answer["content"]["application/json"]));
        for name in request.into_iter().chain(answers).filter(|name| *name != "Empty") {
            let examples = schemas[name]["examples"].as_array().map_or(0, Vec::len);
            assert!(examples > 0, "{method} {path}: {name} has no example");
        }
    }
    assert!(checked >= 30, "{checked} examples");
}
