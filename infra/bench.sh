#!/usr/bin/env bash
# `make bench`: the release functions measured in-process (size, init, RSS, warm latency,
# auth paths, vote costs over the store layer), then cast-vote through the local gateway
# on a local stack of its own (stopped on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install.sh
functions=$(ls -d functions/*/ | xargs -n1 basename)
cargo build --release $(printf -- '-p %s ' $functions)
cargo run --release -p ballot-bench -- "$@"

source infra/stack.sh
trap stack_down EXIT
unset AWS_ENDPOINT_URL
cargo build --workspace --bins --quiet
echo "==> local stack for the gateway benchmark (logs in $BALLOT_STATE_DIR)" >&2
aws_up "$(free_port)"
functions_up "$(free_port)" "$(free_port)" --ignore-changes >&2
echo
cargo run --quiet -p ballot-load --bin vote-load
cargo run --quiet -p ballot-load --bin webhook-load
