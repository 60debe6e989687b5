# ballot: the two commands are `make dev` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

FUNCTIONS := $(patsubst functions/%/Cargo.toml,%,$(wildcard functions/*/Cargo.toml))

.PHONY: help install dev test lint bench
help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: ## Install the pinned local toolchain into .venv
	@bash infra/install.sh

dev: ## Run the whole API on http://127.0.0.1:3000 (moto + cargo lambda watch + local gateway)
	@bash infra/dev.sh

test: ## Everything CI checks: fmt, clippy, template lint, unit, integration and e2e tests
	@bash infra/test.sh

lint: install ## cfn-lint (with serverless rules) and sam validate --lint
	@bash infra/lint.sh

bench: ## Size, cold start, peak RSS and warm latency of every function (release builds)
	cargo build --release $(addprefix -p ,$(FUNCTIONS))
	cargo run --release -p ballot-bench -- $(BENCH_ARGS)
