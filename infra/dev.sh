#!/usr/bin/env bash
# `make dev`: the whole API on http://127.0.0.1:3000, like API Gateway, with every
# function running from source under `cargo lambda watch` (it rebuilds on change).
# Uses moto on 127.0.0.1:4566, or whatever already answers at AWS_ENDPOINT_URL (e.g.
# LocalStack). It prints a line per stage with the time since it started, and cargo's own
# progress while it builds. However it is stopped (Ctrl-C, TERM or HUP to its process
# group, or the end of the script), it stops everything it started: see infra/stack.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/stack.sh

stage "install: checking the pinned tools in .venv (moto, cargo-lambda, sam, cfn-lint)"
bash infra/install.sh
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
stage "build: cargo build --workspace --bins (a fresh clone takes minutes: about 8 on 2 cores)"
cargo build --workspace --bins
port=${AWS_ENDPOINT_URL#*://}; port=${port%%/*}; port=${port##*:}
aws_up "$port"
functions_up "${BALLOT_INVOKE_PORT:-9000}" "${BALLOT_PORT:-3000}" "${BALLOT_WS_PORT:-3001}"
# The mail the functions send (verification, password reset), printed here as it arrives
# (infra/mail_watch.py reads moto's mailbox every 2 s): to this console only, never to a
# log file, since it holds one-time links. In a session of its own and in STACK_PIDS, like
# what `start` runs, so stack_down (or the watchdog) stops it with the rest.
setsid python3 infra/mail_watch.py "$AWS_ENDPOINT_URL" < /dev/null &
STACK_PIDS+=("$!")
stack_pids_saved
# Where `make metrics` finds this stack's logs.
echo "$BALLOT_STATE_DIR" > "${TMPDIR:-/tmp}/ballot-dev.state"
stage "ready"

cat <<MSG

ballot is running at $BALLOT_API_URL   (try: curl $BALLOT_API_URL/v1/health)
  live:      $BALLOT_WS_URL/prod (the WebSocket API of live results)
  functions: cargo lambda watch on $BALLOT_INVOKE_URL (rebuilds on change)
  AWS:       $AWS_ENDPOINT_URL
  mail:      printed here as it is sent (to, subject, body: the verification and reset links)
  logs:      $BALLOT_STATE_DIR/{moto,watch,gateway}.log
  metrics:   make metrics (the figures the functions wrote, as the dashboard sums them)
Ctrl-C stops everything.
MSG
# Until a signal (its trap stops the stack), or until everything started has exited.
wait "${STACK_PIDS[@]}"
