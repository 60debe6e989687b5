//! No log line of the run holds a password, a password hash, a token, an API key, a mailed
//! link's token, a CAPTCHA token or the CAPTCHA secret. `make test` runs
//! this after every other test against the stack, over the logs of every process
//! (`$BALLOT_STATE_DIR/*.log`: the functions under `cargo lambda watch`, the gateway).

use ballot_tests::{all_mail, local_secret, required_env};

#[tokio::test]
async fn given_the_whole_test_run_when_its_logs_are_read_then_no_secret_is_in_them() {
    let dir = required_env("BALLOT_STATE_DIR");
    // The one-time tokens of every link the run mailed (verification, reset).
    let links: Vec<String> = all_mail()
        .await
        .iter()
        .filter(|mail| mail.body.contains("#token="))
        .map(|mail| ballot_tests::token_in(&mail.body))
        .collect();
    assert!(!links.is_empty(), "the run mailed links");
    let captcha_secret = local_secret("CaptchaSecret").await;
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        read += text.len();
        // Passwords the tests sent, argon2 hashes, and refresh tokens as fields.
        for secret in ["passphrase", "$argon2", "refresh_token\":\"", "pkcs8"] {
            let line = text.lines().find(|l| l.contains(secret));
            assert!(line.is_none(), "{} logs {secret:?}: {}", path.display(), line.unwrap_or_default());
        }
        for token in &links {
            let line = text.lines().find(|l| l.contains(token.as_str()));
            assert!(line.is_none(), "{} logs a mailed link's token: {}", path.display(), line.unwrap_or_default());
        }
        let line = text.lines().find(|l| l.contains(captcha_secret.as_str()) || has_captcha_token(l));
        assert!(line.is_none(), "{} logs a CAPTCHA token or secret: {}", path.display(), line.unwrap_or_default());
        let line = text.lines().find(|l| has_jwt(l));
        assert!(line.is_none(), "{} logs a JWT: {}", path.display(), line.unwrap_or_default());
        let line = text.lines().find(|l| has_api_key(l));
        assert!(line.is_none(), "{} logs an API key: {}", path.display(), line.unwrap_or_default());
    }
    assert!(read > 10_000, "the logs of the run are there ({read} bytes)");
}

/// Whether `line` holds a token of the local CAPTCHA verifier: `local.` and 20 or more
/// base64url characters.
fn has_captcha_token(line: &str) -> bool {
    line.match_indices("local.").any(|(at, word)| {
        let rest = &line.as_bytes()[at + word.len()..];
        rest.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_').count() >= 20
    })
}

/// Whether `line` holds an API key: `bk_` and then the key's owner, id and secret (two
/// dots, 43 or more base64url characters after the last).
fn has_api_key(line: &str) -> bool {
    let key_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_' || *b == b'.';
    line.match_indices(ballot_core::api_keys::PREFIX).any(|(at, prefix)| {
        let word: Vec<u8> = line.as_bytes()[at + prefix.len()..].iter().take_while(|b| key_char(b)).copied().collect();
        let parts: Vec<&[u8]> = word.split(|b| *b == b'.').collect();
        parts.len() >= 3 && parts[2].len() >= 43
    })
}

/// Whether `line` holds a JWT: a word that starts "eyJ" (a JSON header in base64url) and
/// has at least two more dot-separated base64url segments. A random id that merely
/// contains "eyJ" inside a word is not one.
fn has_jwt(line: &str) -> bool {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = line.as_bytes();
    line.match_indices("eyJ").any(|(at, _)| {
        if at > 0 && base64url(bytes[at - 1]) {
            return false;
        }
        let word = bytes[at..].iter().take_while(|&&b| base64url(b) || b == b'.').copied().collect::<Vec<u8>>();
        let segments: Vec<&[u8]> = word.split(|&b| b == b'.').collect();
        segments.len() >= 3 && segments[..2].iter().all(|s| !s.is_empty())
    })
}

#[test]
fn given_lines_when_scanned_then_only_real_jwts_are_found() {
    assert!(has_jwt(r#"{"token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln"}"#));
    assert!(has_jwt("Authorization: Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln"));
    assert!(!has_jwt(r#"{"event":"evt_bqBKDp31xQxjKbYeyJsfTA"}"#));
    assert!(!has_jwt("eyJ alone"));
    assert!(has_captcha_token(r#"{"captcha":"local.AbCdEfGhIjKlMnOpQrStUvWx"}"#));
    assert!(!has_captcha_token("listening on local.host:3000"));
    let key =
        format!("bk_Ed1tor0aKd3eW7rT2yV5gQ.Ak3Lm8Qr2Tz6Vx9Yb1Wh5K.{}", "8cWSTmANbpj79QMK9el1OLRrYNtMSnpT0vPiyjAyaBk");
    assert!(has_api_key(&format!(r#"{{"authorization":"Bearer {key}"}}"#)));
    assert!(!has_api_key(r#"{"message":"api key refused","key":"Ak3Lm8Qr2Tz6Vx9Yb1Wh5K"}"#));
    assert!(!has_api_key("bk_ alone"));
}
