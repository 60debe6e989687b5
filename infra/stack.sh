# Starting and stopping the local stack: moto, `cargo lambda watch`, the local gateway.
# Sourced by infra/dev.sh and infra/test.sh. Every process gets its own process group and
# is stopped by stack_down (which both scripts run on exit, also after a failure).
# Logs go to $BALLOT_STATE_DIR, outside the repo, so `cargo lambda watch` never sees them.

export PATH="$PWD/.venv/bin:$PATH"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export SAM_CLI_TELEMETRY=0
BALLOT_STATE_DIR="${BALLOT_STATE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ballot.XXXXXX")}"
export BALLOT_STATE_DIR
STACK_PIDS=()
MOTO_PID=""

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# answers URL: whether something accepts connections at URL's host:port (bash's /dev/tcp).
answers() {
  local hostport=${1#*://}
  hostport=${hostport%%/*}
  timeout 1 bash -c "exec 3<>/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null
}

# wait_for URL SECONDS NAME LOG: until URL accepts connections.
wait_for() {
  local url=$1 seconds=$2 name=$3 log=$4
  for _ in $(seq 1 $((seconds * 5))); do
    if answers "$url"; then return 0; fi
    sleep 0.2
  done
  echo "error: $name did not come up at $url within ${seconds}s; its log ($log):" >&2
  tail -n 40 "$log" >&2 || true
  return 1
}

# start NAME CMD...: runs CMD in its own process group, logging to $BALLOT_STATE_DIR/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" > "$BALLOT_STATE_DIR/$name.log" 2>&1 < /dev/null &
  STACK_PIDS+=("$!")
  LAST_PID=$!
}

# moto on $1, unless something (moto, LocalStack) already answers at AWS_ENDPOINT_URL.
aws_up() {
  local port=$1
  if [ -n "${AWS_ENDPOINT_URL:-}" ] && answers "$AWS_ENDPOINT_URL"; then
    echo "==> using the AWS endpoint already at $AWS_ENDPOINT_URL"
    return 0
  fi
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  start moto moto_server -H 127.0.0.1 -p "$port"
  MOTO_PID=$LAST_PID
  wait_for "$AWS_ENDPOINT_URL" 60 moto "$BALLOT_STATE_DIR/moto.log"
  echo "==> moto on $AWS_ENDPOINT_URL"
}

aws_down() {
  if [ -n "$MOTO_PID" ]; then
    kill -TERM -- "-$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
}

# functions_up INVOKE_PORT GATEWAY_PORT [watch flags...]: bootstrap, watch, gateway.
functions_up() {
  local invoke_port=$1 gateway_port=$2; shift 2
  local overrides=(AllowedOrigin="$BALLOT_ALLOWED_ORIGIN")
  cargo run --quiet -p ballot-local -- bootstrap --stack "$BALLOT_STACK" \
    --parameter-overrides "${overrides[@]}" --env-out "$BALLOT_STATE_DIR/functions.env"
  start watch cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
    --env-file "$BALLOT_STATE_DIR/functions.env" "$@"
  export BALLOT_INVOKE_URL="http://127.0.0.1:$invoke_port"
  wait_for "$BALLOT_INVOKE_URL" 120 "cargo lambda watch" "$BALLOT_STATE_DIR/watch.log"
  start gateway "$CARGO_TARGET_DIR_RESOLVED/debug/ballot-local" gateway --stack "$BALLOT_STACK" \
    --parameter-overrides "${overrides[@]}" --listen "127.0.0.1:$gateway_port" --invoke-url "$BALLOT_INVOKE_URL"
  export BALLOT_API_URL="http://127.0.0.1:$gateway_port"
  wait_for "$BALLOT_API_URL" 60 gateway "$BALLOT_STATE_DIR/gateway.log"
}

stack_down() {
  local pid
  for pid in "${STACK_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${STACK_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}

export BALLOT_STACK="${BALLOT_STACK:-ballot}"
export BALLOT_ALLOWED_ORIGIN="${BALLOT_ALLOWED_ORIGIN:-http://localhost:5173}"
CARGO_TARGET_DIR_RESOLVED="${CARGO_TARGET_DIR:-$PWD/target}"
