# The two commands a newcomer needs: `make serve` and `make test`. Both set up .venv first (idempotent).
SHELL := /bin/bash
VENV := .venv
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export VLLM_CPU_KVCACHE_SPACE ?= 1
PYTEST_ARGS ?=

.PHONY: setup model serve test test-all test-docker test-rl lint bench

setup:
	@bash scripts/setup.sh

model: setup
	@$(VENV)/bin/daj models prepare

serve: model
	$(VENV)/bin/daj serve

test: model
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: model
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# 2 real GRPO steps of TRL on SmolLM2-135M with daj's /rewards as the reward, over HTTP (scripts/test_rl.sh): its own
# .venv-rl with the client's `rl` extra (TRL moves transformers, which vLLM pins). Minutes; neither `make test` nor
# CI runs it.
test-rl: model
	bash scripts/test_rl.sh

# Build the images (docker/build-local.sh), compose up with three executor replicas, /ready, selections in the
# executors' sandbox spread over the replicas, one replica killed mid-batch, hostile programs, the API container
# unable to run a candidate, compose down. Needs a Docker daemon (docs/deploy.md); a cold build takes minutes, so
# neither `make test` nor CI runs it.
test-docker: setup
	DAJ_TEST_DOCKER=1 $(VENV)/bin/python -m pytest -m docker -s tests/deploy/test_docker_cycle.py $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
