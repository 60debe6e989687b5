#!/usr/bin/env bash
# Stopping `make dev` stops everything it started, whichever way it is stopped: an IDE's
# stop button, `timeout` or a supervisor sends TERM to its process group, Ctrl-C sends
# INT, a closed terminal HUP, a last resort KILL.
#
# This starts `make dev` on free ports in a session of its own, waits until its gateway
# answers /v1/health, sends SIGNAL (TERM unless given) to its process group (twice: again
# once the stop is under way), and fails
# unless within $BALLOT_STOP_SECONDS (20) every process it started is gone (make, dev.sh,
# moto, cargo lambda watch and its function instances, the gateway: the processes below
# `make dev` before the signal, and any process carrying its state dir in its
# environment) and its three ports are free.
#
#   bash infra/tests/dev_stop.sh [TERM|INT|HUP|KILL]
#
# `make test` runs it after the build, so `make dev` builds nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
signal=${1:-TERM}
up_seconds=${BALLOT_UP_SECONDS:-300}
stop_seconds=${BALLOT_STOP_SECONDS:-20}
# 2 instances of each function rather than make dev's 4: each still in a session of its
# own, in half the time to start.
instances=${BALLOT_STOP_INSTANCES:-2}

# Nothing of the caller's stack (make test exports its own) leaks into this one.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^BALLOT_' || true)
unset AWS_ENDPOINT_URL

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# answers PORT: something accepts connections on 127.0.0.1:PORT.
answers() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2> /dev/null; }
# starttime PID: when PID started (clock ticks since boot), nothing if it is gone or a zombie.
starttime() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2> /dev/null) || return 0
  read -ra fields <<< "${stat##*) }"  # fields from the 3rd on: state ppid pgrp ...
  [ "${fields[0]}" = Z ] || echo "${fields[19]}"
}
# tree PID: PID and every process below it.
tree() {
  ps -eo pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { queue[0] = root; n = 1
          for (i = 0; i < n; i++) { print queue[i]; split(kids[queue[i]], k, " ")
                                    for (j in k) queue[n++] = k[j] } }'
}
# describe PID...: one line per process, for a failure message.
describe() { [ $# -eq 0 ] || ps -o pid=,pgid=,sid=,stat=,args= -p "$(IFS=,; echo "$*")" | cut -c1-200 || true; }

api_port=$(free_port) invoke_port=$(free_port) aws_port=$(free_port) ws_port=$(free_port)
log=$(mktemp "${TMPDIR:-/tmp}/ballot-dev-stop.XXXXXX")
echo "    make dev on ports $api_port (gateway), $ws_port (WebSocket), $invoke_port (functions), $aws_port (moto); log $log"
# A background job of a script starts with INT ignored, and a shell cannot trap a signal
# it started with ignored; `make dev` in a terminal starts with it at its default.
launch=(setsid)
if env --default-signal=INT true 2> /dev/null; then launch=(env --default-signal=INT setsid); fi
BALLOT_INSTANCES=$instances BALLOT_PORT=$api_port BALLOT_WS_PORT=$ws_port BALLOT_INVOKE_PORT=$invoke_port AWS_ENDPOINT_URL="http://127.0.0.1:$aws_port" \
  "${launch[@]}" make dev > "$log" 2>&1 < /dev/null &
leader=$!
declare -A started=()  # pid -> start time, of every process below `make dev`
state_dir=""

# leftovers: every process of that `make dev` still running, one pid a line.
leftovers() {
  local pid
  for pid in "${!started[@]}"; do
    [ "$(starttime "$pid")" != "${started[$pid]}" ] || echo "$pid"
  done
  if [ -n "$state_dir" ]; then
    grep -lsaz "^BALLOT_STATE_DIR=$state_dir\$" /proc/[0-9]*/environ 2> /dev/null | cut -d/ -f3 || true
  fi
}
busy_ports() {
  local port
  for port in "$api_port" "$ws_port" "$invoke_port" "$aws_port"; do
    if answers "$port"; then echo "$port"; fi
  done
}
# snapshot: remembers every process below make dev, and its state dir.
snapshot() {
  local pid start
  for pid in $(tree "$leader"); do
    start=$(starttime "$pid")
    [ -z "$start" ] || started[$pid]=$start
    [ -n "$state_dir" ] || state_dir=$(tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | sed -n 's/^BALLOT_STATE_DIR=//p')
  done
}
# On the way out, whatever happened (a failure, Ctrl-C of make test): nothing of that
# make dev may outlive this test.
cleanup() {
  local pid
  if [ -n "$(starttime "$leader")" ]; then
    snapshot
    kill -TERM -- "-$leader" 2> /dev/null || true
    for _ in $(seq 1 100); do [ -n "$(starttime "$leader")" ] || break; sleep 0.1; done
  fi
  for pid in $(leftovers | sort -u); do
    kill -KILL -- "-$pid" 2> /dev/null || kill -KILL "$pid" 2> /dev/null || true
  done
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- make dev's output ($log):" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
}

# Up: the gateway answers, and every process below make dev is known.
SECONDS=0
until curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$api_port/v1/health"; do
  [ -n "$(starttime "$leader")" ] || fail "make dev exited before its gateway answered"
  [ "$SECONDS" -lt "$up_seconds" ] || fail "the gateway did not answer /v1/health within ${up_seconds}s"
  sleep 0.5
done
[ "$(ps -o pgid= -p "$leader" | tr -d ' ')" = "$leader" ] || fail "make dev is not the leader of its process group"
snapshot
[ -n "$state_dir" ] || fail "no process below make dev carries BALLOT_STATE_DIR"
# The function instances: the processes cargo lambda watch started.
running=$(ps -o pid=,ppid=,args= -p "$(IFS=,; echo "${!started[*]}")" |
  awk '$3 ~ /cargo-lambda$/ && $4 == "lambda" && $5 == "watch" { watch[$1] = 1 } { parent[$1] = $2 }
       END { for (p in parent) if (parent[p] in watch) n++; print n + 0 }')
echo "    up in ${SECONDS}s: ${#started[@]} processes ($running function instances), state dir $state_dir"
[ "$running" -gt 0 ] || fail "found no function instance below make dev"

# The sessions make dev started (moto, cargo lambda watch, every instance, the gateway):
# the processes below it that lead a session of their own.
sessions=()
for pid in $(ps -o pid=,sid= -p "$(IFS=,; echo "${!started[*]}")" | awk -v leader="$leader" '$1 == $2 && $1 != leader { print $1 }'); do
  sessions+=("$pid")
done
[ ${#sessions[@]} -gt 0 ] || fail "make dev started no session of its own"
# a_session_gone: one of those sessions' leaders has exited.
a_session_gone() {
  local pid
  for pid in "${sessions[@]}"; do
    [ "$(starttime "$pid")" = "${started[$pid]}" ] || return 0
  done
  return 1
}

# Stop: SIGNAL to the process group, as an IDE, timeout or a supervisor does; and once
# the stop is under way (one of those sessions has gone), SIGNAL again, as an impatient
# user or a supervisor repeats it (and as make itself does: it passes a TERM on to its
# child, which may reach dev.sh after the group's TERM already started the stop).
SECONDS=0
repeated=""
kill "-$signal" -- "-$leader"
while :; do
  mapfile -t left < <(leftovers | sort -un)
  mapfile -t busy < <(busy_ports)
  [ ${#left[@]} -gt 0 ] || [ ${#busy[@]} -gt 0 ] || break
  if [ -z "$repeated" ] && a_session_gone; then
    kill "-$signal" -- "-$leader" 2> /dev/null || true
    repeated="after ${SECONDS}s"
  fi
  if [ "$SECONDS" -ge "$stop_seconds" ]; then
    echo "FAIL: ${stop_seconds}s after SIG$signal to make dev's process group, ${#left[@]} of its processes run and ports [${busy[*]}] are busy:" >&2
    describe "${left[@]}" | head -n 20 >&2
    fail "make dev did not stop everything it started"
  fi
  sleep 0.2
done
status=0
wait "$leader" || status=$?
echo "    SIG$signal (again ${repeated:-never}): everything stopped and the ports are free after ${SECONDS}s (make dev exited with $status)"
rm -f "$log"
