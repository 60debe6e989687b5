#!/usr/bin/env bash
# `make bench`: the release functions measured in-process (size, init, RSS, warm latency,
# auth paths, vote costs over the store layer), then cast-vote, webhooks, the tally's
# freshness and live fan-out to 1,000 WebSocket subscribers through the local gateway on
# a local stack of its own, then what a vote and a live update cost on the wire on a
# second stack behind the AWS proxy (each stopped when done).
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install.sh
functions=$(ls -d functions/*/ | xargs -n1 basename)
cargo build --release $(printf -- '-p %s ' $functions)
# The metrics A/B: cast-vote built once more with its metrics compiled out
# (BALLOT_NO_METRICS, shared::metrics), kept aside, then rebuilt as deployed; the bench
# starts the two alternately.
target=${CARGO_TARGET_DIR:-target}
ab_dir="$target/bench/no-metrics"
mkdir -p "$ab_dir"
BALLOT_NO_METRICS=1 cargo build --release -p cast-vote
cp "$target/release/cast-vote" "$ab_dir/"
cargo build --release -p cast-vote
cargo run --release -p ballot-bench -- --ab-dir "$ab_dir" "$@"

# One client is the load here: the web ACL's per-address limit would block it by design.
export BALLOT_WAF_LIMIT=1000000000
source infra/stack.sh
trap stack_down EXIT
unset AWS_ENDPOINT_URL
cargo build --workspace --bins --quiet
echo "==> local stack for the gateway benchmark (logs in $BALLOT_STATE_DIR)" >&2
aws_up "$(free_port)"
functions_up "$(free_port)" "$(free_port)" "$(free_port)" --ignore-changes >&2
echo
cargo run --quiet -p ballot-load --bin vote-load
cargo run --quiet -p ballot-load --bin webhook-load
cargo run --quiet -p ballot-load --bin tally-freshness
cargo run --quiet -p ballot-load --bin live-fanout

# What a vote costs on the wire: a fresh stack whose functions reach moto through the AWS
# proxy, which meters every call (the latency figures above are taken without it).
stack_down
stack_traps
echo "==> local stack behind the AWS proxy, for the cost of a vote (logs in $BALLOT_STATE_DIR)" >&2
unset AWS_ENDPOINT_URL
aws_up "$(free_port)"
proxy_up "$(free_port)" >&2
functions_up "$(free_port)" "$(free_port)" "$(free_port)" --ignore-changes >&2
echo
cargo run --quiet -p ballot-load --bin vote-cost
cargo run --quiet -p ballot-load --bin live-fanout
