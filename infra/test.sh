#!/usr/bin/env bash
# `make test`: everything CI checks. Static checks first, then the local stack on free
# ports for the integration and end-to-end tests, then an outage test with moto stopped,
# then the fault scenarios on a fresh stack behind the AWS proxy. The stack is stopped on
# exit, whether the tests passed or not.
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install.sh
bash infra/chromium.sh  # the live page's browser tests
# cargo-nextest runs the tests; Rust machines usually have it, others get the pinned version.
if ! cargo nextest --version > /dev/null 2>&1; then
  echo "==> installing cargo-nextest 0.9.143"
  cargo install --locked cargo-nextest@0.9.143
fi
# cargo-deny checks licenses and bans (deny.toml); built once, at the pinned version.
if [ "$(cargo deny --version 2> /dev/null)" != "cargo-deny 0.18.5" ]; then
  echo "==> installing cargo-deny 0.18.5"
  cargo install --locked cargo-deny@0.18.5
fi
source infra/stack.sh
trap stack_down EXIT

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo deny: licenses and bans (advisories need RustSec's database: the GitHub workflow checks them)"
cargo deny check licenses bans
echo "==> lint: template (cfn-lint + serverless rules, sam validate --lint), workflows (actionlint)"
bash infra/lint.sh
echo "==> AWS proxy: metering and faults"
.venv/bin/python -m unittest infra/tests/aws_proxy_test.py
echo "==> moto: streams as DynamoDB writes them (cancelled transactions, no-op writes, creating updates, a shard id per stream), queries of one partition"
.venv/bin/python -m unittest infra/tests/moto_streams_test.py
echo "==> moto: the mailbox of sent mail (GET /_ballot/mail)"
.venv/bin/python -m unittest infra/tests/moto_mail_test.py
echo "==> build"
cargo build --workspace --bins --quiet
cargo nextest run --workspace --no-run --cargo-quiet

echo "==> make dev: TERM to its process group stops everything it started"
bash infra/tests/dev_stop.sh TERM

echo "==> local stack (logs in $BALLOT_STATE_DIR)"
unset AWS_ENDPOINT_URL  # tests always get a stack of their own, on free ports
export BALLOT_LIMIT_WINDOW=6  # short rate-limit windows, so tests can wait one out
export BALLOT_LOGIN_LIMIT_PER_ACCOUNT=20  # a ceiling a paced spray fills within one window
export BALLOT_API_KEY_LIMIT=60  # requests per API key per minute: a test fills one key's minute
export BALLOT_WAF_WINDOW=6     # the web ACL's rate rules count 6 s windows (tests wait one out)
export BALLOT_SECRETS_TTL=1   # key rotations are seen at once
export BALLOT_WEBHOOK_RETRY_DELAYS=1,1,1,1,1  # a failing webhook's 6 attempts take seconds
export BALLOT_WS_IDLE_SECS=5  # WebSocket connections idle for 5 s close (API Gateway: 10 minutes)
export BALLOT_LOG_SDK_CALLS=true  # every SDK call a span in the log: checked, and read for secrets
aws_up "$(free_port)"
issuer_port=$(free_port)
start issuer cargo run --quiet -p ballot-local -- oidc-issuer --listen "127.0.0.1:$issuer_port"
export BALLOT_OIDC_ISSUER="http://127.0.0.1:$issuer_port"
wait_for "$BALLOT_OIDC_ISSUER" 60 "OIDC issuer" "$BALLOT_STATE_DIR/issuer.log" "$LAST_PID"
export BALLOT_TRUSTED_ISSUERS="[{\"issuer\":\"$BALLOT_OIDC_ISSUER\",\"audience\":\"ballot-test\",\"jwks_url\":\"$BALLOT_OIDC_ISSUER/jwks\"}]"
# The CAPTCHA check is on in the test stack, against the local Turnstile-compatible
# verifier (it reads the stack's CaptchaSecret once the bootstrap made it).
captcha_port=$(free_port)
start captcha cargo run --quiet -p ballot-local -- captcha-verifier --listen "127.0.0.1:$captcha_port"
export BALLOT_CAPTCHA_URL="http://127.0.0.1:$captcha_port"
wait_for "$BALLOT_CAPTCHA_URL" 60 "CAPTCHA verifier" "$BALLOT_STATE_DIR/captcha.log" "$LAST_PID"
# The gateway's stream player, as Lambda may, delivers every stream batch twice and rolls
# the stream over to a child shard every 5,000 records: the recounts after the vote
# scenarios check the tally under both. (Only the gateway: the player's own tests set
# their players up themselves.)
BALLOT_STREAM_REPEAT=1 BALLOT_STREAM_ROLLOVER_AT=5000 functions_up "$(free_port)" "$(free_port)" "$(free_port)" --ignore-changes

echo "==> unit, integration and e2e tests"
cargo nextest run --workspace --no-fail-fast -E 'not (binary(outage) | binary(rotation) | binary(logs) | binary(faults) | binary(killed) | binary(restore) | binary(contract))'

echo "==> the API as a contract: Schemathesis over every operation (alone: it makes thousands of polls and accounts)"
cargo nextest run --workspace --no-capture -E 'binary(contract)'

echo "==> signing key rotation (alone: it changes the key every other test signs with)"
cargo nextest run --workspace -E 'binary(rotation)'

echo "==> no secret in any log line of the run"
cargo nextest run --workspace -E 'binary(logs)'

echo "==> restore: the stack switched to a copy of its table, closings rescheduled, a tally repaired"
cargo nextest run --workspace -E 'binary(restore) & test(before_the_restore)'
copy=$(python3 -c 'import json, os; print(json.load(open(os.environ["BALLOT_STATE_DIR"] + "/restore.json"))["copy"])')
switch=$(cargo run --quiet -p ballot-local -- restored-table --table "$copy")
echo "    switching the functions to it: $switch"
functions_down
BALLOT_EXTRA_OVERRIDES="$switch" BALLOT_STREAM_REPEAT=1 BALLOT_STREAM_ROLLOVER_AT=5000 \
  functions_up "$(free_port)" "$(free_port)" "$(free_port)" --ignore-changes
cargo nextest run --workspace -E 'binary(restore) & test(after_the_restore)'

echo "==> outage: moto stopped, the gateway keeps serving"
aws_down
cargo nextest run --workspace -E 'binary(outage)'

echo "==> faults: a fresh stack whose AWS calls go through the AWS proxy, 10 % of them failing"
stack_down
unset BALLOT_CAPTCHA_URL  # its verifier stopped with the stack; the fault scenarios need none
stack_traps
aws_up "$(free_port)"
proxy_up "$(free_port)"
functions_up "$(free_port)" "$(free_port)" "$(free_port)" --ignore-changes
cargo nextest run --workspace -E 'binary(faults)'
echo "==> functions killed mid-work, their writes in flight landing late (alone, one at a time: they kill instances)"
cargo nextest run --workspace --test-threads 1 -E 'binary(killed)'
