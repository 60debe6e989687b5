# Starting and stopping the local stack: moto, `cargo lambda watch`, the local gateway.
# Sourced by infra/dev.sh and infra/test.sh. Every process gets its own process group and
# is stopped by stack_down (which both scripts run on exit, also after a failure).
# Logs go to $BALLOT_STATE_DIR, outside the repo, so `cargo lambda watch` never sees them.

export PATH="$PWD/.venv/bin:$PATH"
# The local stack never sees real credentials: they would be sent to moto and written
# into the functions' env file.
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
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

# wait_for URL SECONDS NAME LOG PID: until URL accepts connections, while PID lives.
wait_for() {
  local url=$1 seconds=$2 name=$3 log=$4 pid=$5
  for _ in $(seq 1 $((seconds * 5))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $name exited while starting; its log ($log):" >&2
      tail -n 40 "$log" >&2 || true
      return 1
    fi
    if answers "$url"; then return 0; fi
    sleep 0.2
  done
  echo "error: $name did not come up at $url within ${seconds}s; its log ($log):" >&2
  tail -n 40 "$log" >&2 || true
  return 1
}

# port_free PORT NAME: fails with a clear message when something already listens on PORT.
port_free() {
  if answers "http://127.0.0.1:$1"; then
    echo "error: port $1 ($2) is already in use; stop what uses it or choose another port" >&2
    return 1
  fi
}

# stage WHAT: one line per stage of starting the stack, with the time since the script
# started, so a long first build or a slow start shows where it is.
stage() {
  printf '==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"
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
    stage "moto: not started, using the AWS endpoint already at $AWS_ENDPOINT_URL"
    return 0
  fi
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  stage "moto: starting on $AWS_ENDPOINT_URL"
  start moto python3 infra/moto_server.py -H 127.0.0.1 -p "$port"
  MOTO_PID=$LAST_PID
  wait_for "$AWS_ENDPOINT_URL" 60 moto "$BALLOT_STATE_DIR/moto.log" "$MOTO_PID"
}

aws_down() {
  if [ -n "$MOTO_PID" ]; then
    stop_group "$MOTO_PID"
    MOTO_PID=""
  fi
}

# stop_group PID: TERM the process group, KILL it if it is still there after 5 s.
stop_group() {
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 -- "-$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# functions_up INVOKE_PORT GATEWAY_PORT [watch flags...]: bootstrap, watch, gateway.
functions_up() {
  local invoke_port=$1 gateway_port=$2; shift 2
  local overrides=(AllowedOrigin="$BALLOT_ALLOWED_ORIGIN" LimitWindowSeconds="$BALLOT_LIMIT_WINDOW"
    SecretsTtlSeconds="$BALLOT_SECRETS_TTL" TrustedIssuers="$BALLOT_TRUSTED_ISSUERS" AllowHttpWebhooks=true
    WebhookRetryDelays="$BALLOT_WEBHOOK_RETRY_DELAYS" WebhookAllowedAddresses=127.0.0.1
    WebhookHosts="$BALLOT_WEBHOOK_HOSTS")
  port_free "$invoke_port" "cargo lambda watch"
  port_free "$gateway_port" "local gateway"
  stage "bootstrap: the tables, queues, secrets and schedule group of template.yaml"
  cargo run --quiet -p ballot-local -- bootstrap --stack "$BALLOT_STACK" \
    --parameter-overrides "${overrides[@]}" --env-out "$BALLOT_STATE_DIR/functions.env"
  # Up to $BALLOT_INSTANCES instances per function, as Lambda scales out: concurrent
  # requests really run concurrently (an instance serves one request at a time, like
  # Lambda). They are started up front: `cargo lambda watch` starts one with `cargo run`.
  export BALLOT_INVOKE_URL="http://127.0.0.1:$invoke_port"
  stage "cargo lambda watch: starting on $BALLOT_INVOKE_URL"
  start watch cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
    --concurrency "$BALLOT_INSTANCES" --env-file "$BALLOT_STATE_DIR/functions.env" "$@"
  wait_for "$BALLOT_INVOKE_URL" 120 "cargo lambda watch" "$BALLOT_STATE_DIR/watch.log" "$LAST_PID"
  stage "warming: starting the instances of every function ($BALLOT_INSTANCES each)"
  cargo run --quiet -p ballot-local -- warm --invoke-url "$BALLOT_INVOKE_URL" --instances "$BALLOT_INSTANCES"
  export BALLOT_API_URL="http://127.0.0.1:$gateway_port"
  stage "gateway: starting on $BALLOT_API_URL"
  start gateway cargo run --quiet -p ballot-local -- gateway --stack "$BALLOT_STACK" \
    --parameter-overrides "${overrides[@]}" --listen "127.0.0.1:$gateway_port" --invoke-url "$BALLOT_INVOKE_URL"
  wait_for "$BALLOT_API_URL" 60 gateway "$BALLOT_STATE_DIR/gateway.log" "$LAST_PID"
}

stack_down() {
  local pid
  for pid in "${STACK_PIDS[@]}"; do
    stop_group "$pid"
  done
  STACK_PIDS=()
}

export BALLOT_STACK="${BALLOT_STACK:-ballot}"
# Instances per function in `cargo lambda watch` (Lambda's concurrency, locally).
export BALLOT_INSTANCES="${BALLOT_INSTANCES:-4}"
export BALLOT_ALLOWED_ORIGIN="${BALLOT_ALLOWED_ORIGIN:-http://localhost:5173}"
# Rate-limit windows (failed logins, guest tokens); the template's default is 900 s.
export BALLOT_LIMIT_WINDOW="${BALLOT_LIMIT_WINDOW:-900}"
# How long warm functions cache the signing keys; the template's default is 300 s.
export BALLOT_SECRETS_TTL="${BALLOT_SECRETS_TTL:-300}"
# Identity providers the authorizer trusts (JSON, no spaces); none by default.
export BALLOT_TRUSTED_ISSUERS="${BALLOT_TRUSTED_ISSUERS:-}"
# Seconds between the attempts of a failed webhook delivery: short locally (the
# template's default spans about a day).
export BALLOT_WEBHOOK_RETRY_DELAYS="${BALLOT_WEBHOOK_RETRY_DELAYS:-2,4,8,16,32}"
# Fixed answers for webhook host names (like curl --resolve): names for internal
# addresses, which deliveries must refuse (the SSRF tests use them). Deliveries may reach
# 127.0.0.1 alone of the internal addresses, so a local receiver works.
export BALLOT_WEBHOOK_HOSTS="${BALLOT_WEBHOOK_HOSTS:-ssrf-loopback.test=127.0.0.2,ssrf-ten.test=10.0.0.1,ssrf-172.test=172.16.0.1,ssrf-192.test=192.168.0.1,ssrf-metadata.test=169.254.169.254,ssrf-cgnat.test=100.64.0.1,ssrf-zero.test=0.0.0.0,ssrf-multicast.test=224.0.0.1,ssrf-v6-loopback.test=::1,ssrf-ula.test=fc00::1,ssrf-v6-link.test=fe80::1}"
