//! No log line of the run holds a password, a password hash or a token. `make test` runs
//! this after every other test against the stack, over the logs of every process
//! (`$BALLOT_STATE_DIR/*.log`: the functions under `cargo lambda watch`, the gateway).

use ballot_tests::required_env;

#[test]
fn given_the_whole_test_run_when_its_logs_are_read_then_no_secret_is_in_them() {
    let dir = required_env("BALLOT_STATE_DIR");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        read += text.len();
        // Passwords the tests sent, argon2 hashes, JWTs (a JSON header in base64url
        // starts "eyJ"), and refresh tokens as fields.
        for secret in ["passphrase", "$argon2", "eyJ", "refresh_token\":\"", "pkcs8"] {
            let line = text.lines().find(|l| l.contains(secret));
            assert!(line.is_none(), "{} logs {secret:?}: {}", path.display(), line.unwrap_or_default());
        }
    }
    assert!(read > 10_000, "the logs of the run are there ({read} bytes)");
}
