//! Identity through the local gateway: guest tokens, the caller, the JWK set, every route
//! for every role, and the hostile tokens that must get 401 before any function runs.

use ballot_core::access::{Access, ROUTES, Role};
use ballot_tests::{
    api, assert_problem, client, concrete_path, local_keys, post_json, token_for, token_for_account, token_settings,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use shared::auth::{keys::KeySet, token::now};

async fn get_me(authorization: Option<String>) -> reqwest::Response {
    let mut request = client().get(format!("{}/v1/me", api()));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn given_a_guest_token_when_asking_who_i_am_then_a_guest() {
    let response = post_json(&client(), "/v1/auth/guest", &json!({})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("Bearer"), Some(3600)));
    assert!(body.get("refresh_token").is_none());
    let me = get_me(Some(format!("Bearer {}", body["access_token"].as_str().unwrap()))).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert!(me["id"].as_str().unwrap().starts_with("guest-"));
    assert_eq!(me["roles"], json!(["guest"]));
}

#[tokio::test]
async fn given_the_jwks_when_fetched_then_the_current_key_is_listed_and_cacheable() {
    let response = client().get(format!("{}/.well-known/jwks.json", api())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let set: Value = response.json().await.unwrap();
    let kid = local_keys().await.current_kid().to_owned();
    assert!(set["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str() && k["kty"] == "OKP"));
    assert!(!set.to_string().contains("pkcs8"));
}

/// Every route of the table for every role: public routes reach their function whatever
/// the token; token routes reach it for the roles the table allows and are 403 for others.
#[tokio::test]
async fn given_every_route_and_role_when_called_then_the_table_decides() {
    for role in Role::ALL {
        let token = token_for(&[role]).await;
        for rule in ROUTES {
            let url = format!("{}{}", api(), concrete_path(rule.path));
            let response =
                client().request(rule.method.parse().unwrap(), &url).bearer_auth(&token).send().await.unwrap();
            let status = response.status().as_u16();
            let reached = response.headers().contains_key("x-request-id");
            match rule.access {
                Access::Public => assert!(reached, "{role:?} {} {}: {status}", rule.method, rule.path),
                // Allowed: the function runs and decides (a write with no body is its 4xx).
                Access::Roles(_) if rule.allows(&[role]) => {
                    assert!(
                        reached && status != 401 && status != 403,
                        "{role:?} {} {}: {status}",
                        rule.method,
                        rule.path
                    )
                }
                Access::Roles(_) => assert_eq!(status, 403, "{role:?} {} {}", rule.method, rule.path),
            }
        }
    }
}

/// Signs `claims` under `header` with `key` (the test plays the attacker).
fn sign(header: Value, claims: &Value, key: &EncodingKey) -> String {
    let header: Header = serde_json::from_value(header).unwrap();
    encode(&header, claims, key).unwrap()
}

#[tokio::test]
async fn given_hostile_tokens_when_calling_then_401_and_no_function_runs() {
    let keys = local_keys().await;
    let (_, account) = token_for_account(&[Role::Viewer]).await;
    let (kid, key) = keys.signer().unwrap();
    let settings = token_settings();
    let t = now();
    let claims = json!({"iss": settings.issuer, "aud": settings.audience, "sub": account, "exp": t + 600, "nbf": t - 5,
        "iat": t, "jti": "x", "roles": ["admin"], "kind": "access"});
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
    let good = sign(header.clone(), &claims, key);
    let (h, rest) = good.split_once('.').unwrap();
    let (p, sig) = rest.split_once('.').unwrap();
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        sign(header.clone(), &c, key)
    };
    let with_header = |change: &dyn Fn(&mut Value)| {
        let mut hd = header.clone();
        change(&mut hd);
        sign(hd, &claims, key)
    };
    // The attacker's own key, offered inline or by URL.
    let attacker = KeySet::parse(&ballot_local::keys::new_key_set().unwrap()).unwrap();
    let attacker_jwk = attacker.jwks()["keys"][0].clone();
    let by_attacker = |extra: (&str, Value)| {
        let mut hd = header.clone();
        hd[extra.0] = extra.1;
        sign(hd, &claims, attacker.signer().unwrap().1)
    };
    let public_x = keys.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    let hs256 = |secret: &[u8]| {
        sign(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}), &claims, &EncodingKey::from_secret(secret))
    };
    let mut cases: Vec<(String, Option<String>)> = vec![
        ("no token".into(), None),
        ("truncated signature".into(), Some(format!("{h}.{p}.{}", &sig[..sig.len() - 6]))),
        ("empty signature".into(), Some(format!("{h}.{p}."))),
        ("HS256 keyed with the public key".into(), Some(hs256(public_x.as_bytes()))),
        ("HS256 with an empty secret".into(), Some(hs256(b""))),
        ("inline jwk".into(), Some(by_attacker(("jwk", attacker_jwk.clone())))),
        ("spoofed jku".into(), Some(by_attacker(("jku", json!("https://evil.example/jwks.json"))))),
        ("x5u".into(), Some(by_attacker(("x5u", json!("https://evil.example/cert.pem"))))),
        ("empty kid".into(), Some(with_header(&|hd| hd["kid"] = json!("")))),
        ("path kid".into(), Some(with_header(&|hd| hd["kid"] = json!("../../../../dev/null")))),
        ("sql kid".into(), Some(with_header(&|hd| hd["kid"] = json!("x' UNION SELECT '1';--")))),
        ("unknown kid".into(), Some(with_header(&|hd| hd["kid"] = json!("not-a-key")))),
        ("expired beyond leeway".into(), Some(with(&|c| c["exp"] = json!(t - 60)))),
        ("no exp".into(), Some(with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
        ("exp as string".into(), Some(with(&|c| c["exp"] = json!((t + 600).to_string())))),
        ("nbf as string".into(), Some(with(&|c| c["nbf"] = json!(t.to_string())))),
        ("nbf in the future".into(), Some(with(&|c| c["nbf"] = json!(t + 300)))),
        ("wrong iss".into(), Some(with(&|c| c["iss"] = json!("https://evil.example")))),
        ("no iss".into(), Some(with(&|c| drop(c.as_object_mut().unwrap().remove("iss"))))),
        ("wrong aud".into(), Some(with(&|c| c["aud"] = json!("someone-else")))),
        ("no aud".into(), Some(with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))))),
        ("an opaque refresh token".into(), Some(ballot_core::ids::random_id() + &ballot_core::ids::random_id())),
        ("two segments".into(), Some(format!("{h}.{p}"))),
        ("four segments".into(), Some(format!("{good}.{sig}"))),
        ("bad base64url".into(), Some(format!("{h}.{p}!.{sig}"))),
        ("an 11 KB token".into(), Some(format!("{h}.{}.{sig}", "A".repeat(11 * 1024)))),
    ];
    for alg in ["none", "None", "NONE", "nOnE"] {
        cases.push((
            format!("alg {alg}"),
            Some(format!("{}.{p}.", b64(json!({"alg": alg, "typ": "at+jwt", "kid": kid})))),
        ));
    }
    for (name, token) in cases {
        let response = get_me(token.map(|t| format!("Bearer {t}"))).await;
        assert!(!response.headers().contains_key("x-request-id"), "{name}: a function ran");
        let problem = assert_problem(response, 401, "unauthorized").await;
        assert!(!problem.to_string().contains(&account), "{name}: {problem}");
    }
    let accepted = get_me(Some(format!("Bearer {good}"))).await;
    assert_eq!(accepted.status(), 200, "the same token unmodified is accepted");
}
