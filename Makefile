# Rewind: every setup step a fresh machine needs lives here (or in hack/, which this calls).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: help venv crds crds-check lint test test-unit test-e2e testenv cluster-up cluster-down demo bench clean \
	chart-lint golden chart-docs kind-e2e bench-rollback bench-scale bench-records test-node images \
	test-runtime bench-headers

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP) ## create .venv with the operator and the dev tools

crds: $(STAMP) ## regenerate crds/ from the pydantic models
	$(BIN)/python -m rewind.api.crdgen --out crds

crds-check: $(STAMP) ## fail if crds/ differ from the models
	$(BIN)/python -m rewind.api.crdgen --out crds --check

lint: $(STAMP) crds-check ## ruff, mypy --strict, import layers
	$(BIN)/ruff check operator tests hack bench
	$(BIN)/ruff format --check operator tests hack bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test-unit: $(STAMP) ## the unit tier: pure functions, no cluster, seconds
	$(PYTEST) tests/unit -q

testenv: ## build the control plane (cached outside the repo, by version) and install Prometheus
	hack/testenv.sh

test-e2e: $(STAMP) testenv ## the e2e tier against a real control plane and Prometheus
	$(PYTEST) tests/e2e -m e2e -q

test-node: $(STAMP) testenv ## the node tier: a real node, real pods from images built here (one per machine)
	$(PYTEST) tests/node -m node -q

test-runtime: $(STAMP) ## Rewind's code inside a real MLServer on loopback (a cached venv of the image's pins)
	$(PYTEST) tests/runtime -m runtime -q

test: testenv lint test-unit test-runtime test-e2e test-node demo ## the whole suite and the demo, as CI runs it

chart-lint: $(STAMP) testenv ## helm lint, golden `helm template` output, values schema, chart README drift
	$(PYTEST) tests/unit/test_chart.py -q

golden: $(STAMP) testenv ## rewrite tests/golden/chart/ from charts/rewind/ci/*-values.yaml; review the diff
	REWIND_UPDATE_GOLDEN=1 $(PYTEST) tests/unit/test_chart.py -q -k golden

chart-docs: $(STAMP) ## regenerate charts/rewind/README.md from the comments in values.yaml
	$(BIN)/python hack/chart_docs.py

kind-e2e: $(STAMP) ## needs Docker and kind: cluster, image, chart, Prometheus, real MLServer rollout, e2e suite
	hack/kind-e2e.sh

images: $(STAMP) ## build the operator, MLServer and pause images offline (cached by input hash); print TAG PATH
	$(BIN)/python hack/images.py all

cluster-up: testenv ## start a local control plane with fake nodes (kubeconfig: .cluster/kubeconfig)
	hack/cluster.sh up

cluster-down: ## stop and delete the local control plane
	hack/cluster.sh down

demo: $(STAMP) testenv ## bring everything up and show a bad model version being rolled back
	hack/demo.sh

bench: $(STAMP) ## benchmarks of the decision core (numbers, not pass/fail)
	$(BIN)/python bench/bench_core.py

bench-headers: $(STAMP) ## what naming the model on every response costs: MLServer with and without Rewind's wrapper
	$(BIN)/python bench/bench_headers.py

bench-rollback: $(STAMP) testenv ## time automatic rollbacks on a local control plane (numbers, not pass/fail)
	$(BIN)/python bench/bench_rollback.py

bench-records: $(STAMP) ## bytes of a ServingRecord per rollouts a day, projected to 10,000 deployments x 90 days
	$(BIN)/python bench/bench_records.py $(if $(KUBECONFIG),--kubeconfig $(KUBECONFIG))

bench-scale: $(STAMP) testenv ## N ModelDeployments (REWIND_BENCH_SIZES, default 100,1000): cold start, idle cost, latency
	$(BIN)/python bench/bench_scale.py

clean: ## remove the venv and local state (the binary cache outside the repo stays)
	-hack/cluster.sh down
	rm -rf $(VENV) .cluster
