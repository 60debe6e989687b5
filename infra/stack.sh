# Starting and stopping the local stack: moto, `cargo lambda watch`, the local gateway.
# Sourced by infra/dev.sh, infra/test.sh and infra/bench.sh. Every process gets a session
# (and so a process group) of its own, and stack_down stops them all, with everything
# below them: `cargo lambda watch` runs each function instance in a session of its own.
#
# Sourcing this file arms the traps that run stack_down however the script ends: at its
# end, after a failure, on Ctrl-C (INT), on TERM (an IDE's stop button, `timeout`, a
# supervisor, all of which signal the whole process group) or a closed terminal (HUP).
# stack_down ignores further signals, so it always runs to its end: `make` forwards the
# TERM it gets to its child, so under `make dev` the script gets TERM twice, and the
# second used to cut stack_down short after its first process. A watchdog in a session of
# its own stops the stack when the script dies without running its traps (SIGKILL).
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
FUNCTIONS_PIDS=()
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

# start NAME CMD...: runs CMD in a session of its own, logging to $BALLOT_STATE_DIR/NAME.log.
start() {
  local name=$1; shift
  stack_guard
  setsid "$@" > "$BALLOT_STATE_DIR/$name.log" 2>&1 < /dev/null &
  STACK_PIDS+=("$!")
  LAST_PID=$!
  stack_pids_saved
}

# What runs, for the watchdog: one pid a line in $BALLOT_STATE_DIR/stack.pids.
stack_pids_saved() {
  if [ ${#STACK_PIDS[@]} -gt 0 ]; then
    printf '%s\n' "${STACK_PIDS[@]}" > "$BALLOT_STATE_DIR/stack.pids"
  else
    : > "$BALLOT_STATE_DIR/stack.pids"
  fi
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
    stop_groups "$MOTO_PID"
    local pid kept=()
    for pid in "${STACK_PIDS[@]}"; do
      [ "$pid" = "$MOTO_PID" ] || kept+=("$pid")
    done
    STACK_PIDS=(${kept[@]+"${kept[@]}"})
    stack_pids_saved
    MOTO_PID=""
  fi
}

# proxy_up PORT: the AWS proxy (infra/aws_proxy.py: metering, faults) on PORT, in front of
# the AWS endpoint aws_up chose; from then on AWS_ENDPOINT_URL is the proxy's address and
# BALLOT_AWS_UPSTREAM_URL the endpoint behind it. BALLOT_FAULTS (JSON), if set, is the
# fault setting it starts with. `make bench` (vote-cost) and `make test` (faults) use it;
# stack_down stops it with the rest.
proxy_up() {
  local port=$1
  port_free "$port" "AWS proxy"
  export BALLOT_AWS_UPSTREAM_URL="$AWS_ENDPOINT_URL"
  stage "AWS proxy: starting on http://127.0.0.1:$port, in front of $BALLOT_AWS_UPSTREAM_URL"
  start proxy python3 infra/aws_proxy.py --listen "127.0.0.1:$port" --upstream "$BALLOT_AWS_UPSTREAM_URL"
  wait_for "http://127.0.0.1:$port" 30 "AWS proxy" "$BALLOT_STATE_DIR/proxy.log" "$LAST_PID"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
}

# stack_groups PID...: the process groups of PIDs and of every live process below them.
stack_groups() {
  ps -eo pid=,ppid=,pgid=,stat= | awk -v roots="$*" '
    $4 !~ /^Z/ { kids[$2] = kids[$2] " " $1; group[$1] = $3 }
    END {
      n = split(roots, queue, " ")
      for (i = 1; i <= n; i++) {
        if (queue[i] in group) print group[queue[i]]
        m = split(kids[queue[i]], k, " ")
        for (j = 1; j <= m; j++) queue[++n] = k[j]
      }
    }'
}

# stop_groups PID...: TERMs the process groups of PIDs (each leads one: `start` gives it a
# session) and of everything below them, also what starts meanwhile, all at once; KILLs
# whatever is left after 10 s. A group whose processes are all zombies counts as gone.
stop_groups() {
  local -A stopping=() live=()
  local group
  for _ in $(seq 1 100); do
    for group in "$@" $(stack_groups "$@"); do
      [ "$group" -gt 1 ] && [ -z "${stopping[$group]:-}" ] || continue
      stopping[$group]=1
      kill -TERM -- "-$group" 2> /dev/null || true
    done
    live=()
    while read -r group; do live[$group]=1; done < <(ps -eo pgid=,stat= | awk '$2 !~ /^Z/ { print $1 }')
    for group in "${!stopping[@]}"; do
      [ -n "${live[$group]:-}" ] || unset "stopping[$group]"
    done
    [ ${#stopping[@]} -gt 0 ] || return 0
    sleep 0.1
  done
  for group in "${!stopping[@]}"; do kill -KILL -- "-$group" 2> /dev/null || true; done
}

# stack_guard: once, a watchdog in a session of its own, for when this script ends
# without running its traps (SIGKILL of its process group, which an IDE or supervisor
# sends when TERM took too long). stack_down ends it.
stack_guard() {
  [ -z "${STACK_GUARD_PID:-}" ] || return 0
  local shell=$BASHPID  # this shell, the watchdog's parent (expanded here, not in the fork)
  setsid bash -c "$(declare -f stack_groups stop_groups stack_guard_watch); stack_guard_watch \"\$@\"" \
    stack-guard "$shell" "$BALLOT_STATE_DIR/stack.pids" > "$BALLOT_STATE_DIR/guard.log" 2>&1 < /dev/null &
  STACK_GUARD_PID=$!
}

# stack_guard_watch PARENT PIDS_FILE: (the watchdog) once a second, checks that PARENT (the
# shell that started it) is still its parent (a reused pid cannot fake that); once it is
# not, stops what PIDS_FILE lists.
stack_guard_watch() {
  local parent=$1 pids=$2 stat fields
  [ -r "/proc/$$/stat" ] || return 0  # no /proc: no watchdog, rather than a wrong stop
  while read -r stat < "/proc/$$/stat"; do
    read -ra fields <<< "${stat##*) }"  # fields from the 3rd on: state ppid ...
    [ "${fields[1]}" = "$parent" ] || break
    sleep 1
  done
  [ ! -s "$pids" ] || stop_groups $(cat "$pids")
}

# functions_up INVOKE_PORT GATEWAY_PORT WS_PORT [watch flags...]: bootstrap, watch,
# gateway (the REST API on GATEWAY_PORT, the WebSocket API on WS_PORT). Template parameters
# beyond the usual ones: BALLOT_EXTRA_OVERRIDES (Key=Value, space separated).
functions_up() {
  local invoke_port=$1 gateway_port=$2 ws_port=$3; shift 3
  local overrides=(AllowedOrigin="$BALLOT_ALLOWED_ORIGIN" LimitWindowSeconds="$BALLOT_LIMIT_WINDOW"
    LoginLimitPerAccount="$BALLOT_LOGIN_LIMIT_PER_ACCOUNT" ApiKeyRequestsPerMinute="$BALLOT_API_KEY_LIMIT"
    WafWindowSeconds="$BALLOT_WAF_WINDOW" RequestsPerAddress="$BALLOT_WAF_LIMIT"
    SecretsTtlSeconds="$BALLOT_SECRETS_TTL" TrustedIssuers="$BALLOT_TRUSTED_ISSUERS" AllowHttpWebhooks=true
    WebhookRetryDelays="$BALLOT_WEBHOOK_RETRY_DELAYS" WebhookAllowedAddresses=127.0.0.1
    WebhookHosts="$BALLOT_WEBHOOK_HOSTS" CaptchaVerifyUrl="${BALLOT_CAPTCHA_URL:+$BALLOT_CAPTCHA_URL/siteverify}"
    LogSdkCalls="${BALLOT_LOG_SDK_CALLS:-false}")
  local extra
  read -r -a extra <<< "${BALLOT_EXTRA_OVERRIDES:-}"
  overrides+=(${extra[@]+"${extra[@]}"})
  port_free "$invoke_port" "cargo lambda watch"
  port_free "$gateway_port" "local gateway"
  port_free "$ws_port" "local WebSocket API"
  # What `!GetAtt LiveApi.ApiEndpoint` gives locally, and where the gateway serves it.
  export BALLOT_WS_URL="ws://127.0.0.1:$ws_port"
  # Where the functions' Lambda clients (the pre-traffic hook) invoke functions.
  export AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$invoke_port"
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
  FUNCTIONS_PIDS=("$LAST_PID")
  stage "warming: starting the instances of every function ($BALLOT_INSTANCES each)"
  cargo run --quiet -p ballot-local -- warm --invoke-url "$BALLOT_INVOKE_URL" --instances "$BALLOT_INSTANCES"
  export BALLOT_API_URL="http://127.0.0.1:$gateway_port"
  stage "gateway: starting on $BALLOT_API_URL"
  start gateway cargo run --quiet -p ballot-local -- gateway --stack "$BALLOT_STACK" \
    --parameter-overrides "${overrides[@]}" --listen "127.0.0.1:$gateway_port" --invoke-url "$BALLOT_INVOKE_URL"
  wait_for "$BALLOT_API_URL" 60 gateway "$BALLOT_STATE_DIR/gateway.log" "$LAST_PID"
  FUNCTIONS_PIDS+=("$LAST_PID")
}

# functions_down: stops what the last functions_up started (watch, gateway), leaving AWS
# (moto, the proxy) and the rest running, so functions_up can start them again with other
# parameters.
functions_down() {
  [ ${#FUNCTIONS_PIDS[@]} -gt 0 ] || return 0
  stop_groups "${FUNCTIONS_PIDS[@]}"
  local kept=() pid stopped
  for pid in "${STACK_PIDS[@]}"; do
    stopped=""
    for gone in "${FUNCTIONS_PIDS[@]}"; do [ "$pid" != "$gone" ] || stopped=1; done
    [ -n "$stopped" ] || kept+=("$pid")
  done
  STACK_PIDS=(${kept[@]+"${kept[@]}"})
  stack_pids_saved
  FUNCTIONS_PIDS=()
}

# stack_down: stops everything started, all at once, and then the watchdog. Nothing
# interrupts it: it ignores INT, TERM and HUP (a second signal used to end the script
# half way), and PIPE (a closed terminal or pipe must not end it either).
stack_down() {
  trap '' INT TERM HUP PIPE
  if [ ${#STACK_PIDS[@]} -gt 0 ]; then
    stop_groups "${STACK_PIDS[@]}"
    STACK_PIDS=()
    stack_pids_saved
  fi
  if [ -n "${STACK_GUARD_PID:-}" ]; then
    kill "$STACK_GUARD_PID" 2> /dev/null || true
    STACK_GUARD_PID=""
  fi
}

# stack_signaled STATUS: the trap of INT, TERM and HUP. It ignores them first, so a
# second signal (make forwards TERM to its child) cannot run it again, then exits, which
# runs stack_down.
stack_signaled() {
  trap '' INT TERM HUP
  exit "$1"
}

# stack_traps: arms the traps (again, after a stack_down that left the script running).
stack_traps() {
  trap stack_down EXIT
  trap 'stack_signaled 130' INT
  trap 'stack_signaled 143' TERM
  trap 'stack_signaled 129' HUP
  trap - PIPE
}
stack_traps

export BALLOT_STACK="${BALLOT_STACK:-ballot}"
# Instances per function in `cargo lambda watch` (Lambda's concurrency, locally).
export BALLOT_INSTANCES="${BALLOT_INSTANCES:-4}"
export BALLOT_ALLOWED_ORIGIN="${BALLOT_ALLOWED_ORIGIN:-http://localhost:5173}"
# Rate-limit windows (failed logins, guest tokens); the template's default is 900 s.
export BALLOT_LIMIT_WINDOW="${BALLOT_LIMIT_WINDOW:-900}"
export BALLOT_LOGIN_LIMIT_PER_ACCOUNT="${BALLOT_LOGIN_LIMIT_PER_ACCOUNT:-100}"
# Requests per API key per minute; the template's default is 600.
export BALLOT_API_KEY_LIMIT="${BALLOT_API_KEY_LIMIT:-600}"
# The web ACL's window and whole-API limit per address (the gateway plays its rate rules).
export BALLOT_WAF_WINDOW="${BALLOT_WAF_WINDOW:-300}"
export BALLOT_WAF_LIMIT="${BALLOT_WAF_LIMIT:-3000}"
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
