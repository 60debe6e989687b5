#!/usr/bin/env bash
# Installs the pinned local toolchain (moto, cargo-lambda, cfn-lint, cfn-lint-serverless,
# aws-sam-cli) into ./.venv from PyPI. Only reinstalls when infra/requirements.* change,
# so a second run costs nothing. Needs only Python 3 with venv/pip.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.ballot-requirements
want=$(cat infra/requirements.txt infra/requirements.lock | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "==> installing the local toolchain into .venv (pinned in infra/requirements.txt)"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt -c infra/requirements.lock
echo "$want" > "$stamp"
