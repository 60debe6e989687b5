# ballot: the two commands are `make dev` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

FUNCTIONS := $(patsubst functions/%/Cargo.toml,%,$(wildcard functions/*/Cargo.toml))

.PHONY: help install dev test lint bench metrics
help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: ## Install the pinned local toolchain into .venv, and Debian's Chromium at its pin
	@bash infra/install.sh
	@bash infra/chromium.sh

dev: ## Run the whole API on http://127.0.0.1:3000 (moto + cargo lambda watch + local gateway)
	@bash infra/dev.sh

test: ## Everything CI checks: fmt, clippy, template lint, unit, integration and e2e tests
	@bash infra/test.sh

lint: install ## cfn-lint (with serverless rules), sam validate --lint, actionlint on the workflows
	@bash infra/lint.sh

metrics: ## Sum the metrics the running `make dev` functions wrote (EMF): make metrics [SINCE=minutes] [LOG=file]
	@python3 infra/metrics.py $(LOG) $(if $(SINCE),--since $(SINCE),)

bench: ## Function size, cold start, RSS, latency; vote costs; cast-vote through the local gateway
	@bash infra/bench.sh $(BENCH_ARGS)

# Operator commands (values passed as --name=value: a poll id may start with "-"):
# against the running `make dev` stack, or against a deployed stack with
# STACK=<name> (your AWS credentials and region; its outputs name its resources). Both ways
# the command gets the stack's settings under the functions' own names (infra/ops_env.py).
LOCAL_AWS := AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-http://127.0.0.1:4566} AWS_REGION=$${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
ifdef STACK
OPS := .venv/bin/python infra/ops_env.py --stack "$(STACK)" -- cargo run --quiet -p ballot-local -- --allow-remote
else
OPS := $(LOCAL_AWS) python3 infra/ops_env.py -- cargo run --quiet -p ballot-local --
endif

.PHONY: admin rotate-keys dlq-replay recount reschedule restored-table
admin: ## Make the account registered with EMAIL an admin: make admin EMAIL=you@example.com
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com" >&2; exit 2; }
	@$(OPS) admin --email="$(EMAIL)"

rotate-keys: ## Add a new current JWT signing key; tokens of the previous keys stay valid
	@$(OPS) rotate-keys

recount: ## Count ballots and compare with the stream tally: make recount [POLL=<id>] [REPAIR=1] (every poll without POLL)
	@$(OPS) recount $(if $(POLL),--poll="$(POLL)",) $(if $(REPAIR),--repair,)

restored-table: ## After a point-in-time restore into TABLE: its stream, TTL, PITR, deletion protection; prints the switch
	@test -n "$(TABLE)" || { echo "usage: make restored-table TABLE=<restored table> [STACK=<name>]" >&2; exit 2; }
	@$(OPS) restored-table --table="$(TABLE)"

reschedule: ## After a restore: schedule the closing of open polls again (close those past their time)
	@$(OPS) reschedule

dlq-replay: ## Move a queue's dead letters back to it: make dlq-replay QUEUE=EventsQueue (or a queue URL)
	@test -n "$(QUEUE)" || { echo "usage: make dlq-replay QUEUE=EventsQueue" >&2; exit 2; }
	@$(OPS) dlq-replay --queue="$(QUEUE)"
