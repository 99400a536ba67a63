# proxy-order-operator: one entry point for people and CI.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# The test builds carry the crash points the crash-safety tests use (Cargo feature
# `failpoints`); release builds and the image do not. One feature set for every test step, so
# that they share one build.
TEST_FEATURES := --features failpoints
export TEST_FEATURES
# Recipe lines that run cargo start with `+`, so that cargo (and rustdoc) share make's jobserver
# under `make -j` instead of warning that they cannot reach it (and so also run under `make -n`).
# The CRDs crdgen prints (`crdgen <plural>`), each written to crds/<plural>.proxy-solutions.net.yaml.
CRD_PLURALS := proxyorders proxyproviders
# Where built and installed tools live (the control plane, helm, cargo-deny). Override with the
# environment variable PROXY_ORDER_CACHE; `make test-cold` points it at an empty folder.
PROXY_ORDER_CACHE ?= $(HOME)/.cache/proxy-order-operator
export PROXY_ORDER_CACHE

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

.PHONY: test
# The steps run one after another, in this order, also under `make -j`: they share the machine's
# cores, the cluster suites are timing-sensitive, and the first failure stops the run. Each step
# names what it needs as a prerequisite, so any of them also works alone on a fresh machine.
# test-floor runs the chart and a part of the end-to-end scenarios on the oldest supported
# Kubernetes; the last, test-kind, is the real-cluster tier (mk/kind.mk, tests/kind/).
TEST_STEPS := fmt-check clippy deny sbom generated-check chart-check unit cluster-tests test-floor test-arm64 test-plugin-dist test-kind
test: ## every check and test (what CI runs); builds whatever a step needs first
	@set -eu; total=$$SECONDS; \
	for step in $(TEST_STEPS); do \
	  echo "==> make $$step"; start=$$SECONDS; \
	  $(MAKE) --no-print-directory $$step || { echo "make test: step '$$step' failed after $$((SECONDS - start))s" >&2; exit 1; }; \
	  echo "==> make $$step: done in $$((SECONDS - start))s"; \
	done; \
	echo "make test: all $(words $(TEST_STEPS)) steps passed in $$((SECONDS - total))s"

.PHONY: test-cold
# COLD_TARGET=dev|bench runs that instead, COLD_ARGS adds make arguments (e.g. BENCH_N=200),
# COLD_SCOPE=project empties only PROXY_ORDER_CACHE (see hack/test-cold.sh).
test-cold: ## make test from a fresh clone of HEAD with empty caches (COLD_TARGET=dev|bench for those)
	hack/test-cold.sh $(or $(COLD_TARGET),test) $(COLD_ARGS)

.PHONY: fmt-check
fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all -- --check

.PHONY: fmt
fmt: ## format the code
	$(CARGO) fmt --all

.PHONY: clippy
clippy: ## lints, warnings are errors (every target including the cluster suites, and the shipped code without failpoints)
	+$(CARGO) clippy --locked --workspace --all-targets $(TEST_FEATURES) -- -D warnings
	+$(CARGO) clippy --locked --test e2e --test faults --test hostile $(TEST_FEATURES) -- -D warnings
	+$(CARGO) clippy --locked --lib --bins -- -D warnings

.PHONY: unit
unit: ## unit tests, client-vs-simulator tests, golden files
	+$(CARGO) test --locked $(TEST_FEATURES)

.PHONY: generate
generate: ## regenerate the CRD YAML files from the Rust types, the chart's copies and deploy/, and docs/reference/
	@for crd in $(CRD_PLURALS); do \
	  file="crds/$$crd.proxy-solutions.net.yaml"; \
	  $(CARGO) run --locked --quiet --bin crdgen -- "$$crd" >"$$file.tmp" || { rm -f "$$file.tmp"; exit 1; }; \
	  mv "$$file.tmp" "$$file"; \
	  echo "generate: wrote $$file"; \
	done
	@mkdir -p docs/reference; \
	for page in flags crds names; do \
	  file="docs/reference/$$page.md"; \
	  $(CARGO) run --locked --quiet --bin docgen -- "$$page" >"$$file.tmp" || { rm -f "$$file.tmp"; exit 1; }; \
	  mv "$$file.tmp" "$$file"; \
	  echo "generate: wrote $$file"; \
	done
	$(MAKE) --no-print-directory chart-generate

.PHONY: generated-check
generated-check: ## fail when a committed CRD or reference page differs from the generator's output
	@stale=0; \
	for crd in $(CRD_PLURALS); do \
	  file="crds/$$crd.proxy-solutions.net.yaml"; \
	  $(CARGO) run --locked --quiet --bin crdgen -- "$$crd" | diff -u "$$file" - \
	    || { echo "$$file is stale: run 'make generate' and commit it" >&2; stale=1; }; \
	done; \
	for page in flags crds names; do \
	  file="docs/reference/$$page.md"; \
	  $(CARGO) run --locked --quiet --bin docgen -- "$$page" | diff -u "$$file" - \
	    || { echo "$$file is stale: run 'make generate' and commit it" >&2; stale=1; }; \
	done; \
	[ "$$stale" = 0 ]
	@echo "generated files are up to date"

.PHONY: sim
sim: ## run the provider simulator on 127.0.0.1:18080 with API key 'dev-key'
	$(CARGO) run --locked --bin proxy-solutions-sim -- --listen 127.0.0.1:18080 --api-key dev-key

.PHONY: cluster-tests
cluster-tests: controlplane-build ## control-plane smoke checks and end-to-end scenarios on a fresh local control plane
	+$(CARGO) test --locked $(TEST_FEATURES) --test e2e --test faults --test hostile --no-run
	+$(CARGO) build --locked -p kubectl-pxo
	tests/controlplane/with-controlplane.sh tests/cluster-tests.sh

.PHONY: test-floor
test-floor: ## the chart, the CRDs' admission and reconciles on the oldest supported Kubernetes (KUBE_FLOOR_VERSION; builds it the first time)
	+$(CARGO) test --locked $(TEST_FEATURES) --test e2e --no-run
	CP_FLOOR=1 tests/controlplane/with-controlplane.sh tests/floor-tests.sh

.PHONY: test-e2e
test-e2e: controlplane-build ## only the end-to-end scenarios (starts and stops the control plane)
	+$(CARGO) build --locked -p kubectl-pxo
	tests/controlplane/with-controlplane.sh $(CARGO) test --locked $(TEST_FEATURES) --test e2e

.PHONY: test-arm64
test-arm64: ## the arm64 build: cross-compiled as the Dockerfile does (hack/build-static.sh), run under qemu-user
	tests/arm64.sh

.PHONY: test-plugin-dist
test-plugin-dist: test-arm64 ## the kubectl plugin's krew archives and manifest: validated, installed with krew, run (amd64; arm64 under qemu)
	tests/plugin-dist.sh

.PHONY: test-hostile
test-hostile: controlplane-build ## only the hostile-tenant suite (starts and stops the control plane)
	tests/controlplane/with-controlplane.sh $(CARGO) test --locked $(TEST_FEATURES) --test hostile

.PHONY: test-faults
test-faults: controlplane-build ## fault suite (200 orders, 30% provider faults, API-server restart) and crash suite (20 runs per kill point)
	+$(CARGO) test --locked $(TEST_FEATURES) --test faults --no-run
	FAULTS_N=$${FAULTS_N:-200} CRASH_RUNS=$${CRASH_RUNS:-20} \
	  tests/controlplane/with-controlplane.sh $(CARGO) test --locked $(TEST_FEATURES) --test faults

.PHONY: plugin plugin-install plugin-dist
# Where `make plugin-install` puts kubectl-pxo: a folder on PATH, where kubectl finds it as
# `kubectl pxo`.
PLUGIN_PREFIX ?= $(HOME)/.local/bin
plugin: ## build the kubectl plugin (target/release/kubectl-pxo)
	+$(CARGO) build --locked --release -p kubectl-pxo
plugin-install: plugin ## install kubectl-pxo into PLUGIN_PREFIX (default ~/.local/bin), where kubectl finds it as `kubectl pxo`
	install -d "$(PLUGIN_PREFIX)"
	install -m 0755 target/release/kubectl-pxo "$(PLUGIN_PREFIX)/kubectl-pxo"
	@echo "installed $(PLUGIN_PREFIX)/kubectl-pxo: with that folder on PATH, run 'kubectl pxo --help'"
plugin-dist: ## the plugin's krew archives (linux amd64, arm64) and its krew manifest with their checksums, in target/plugin/
	hack/plugin-dist.sh

.PHONY: dev
dev: controlplane-build ## local control plane + simulator + operator + example order; Ctrl-C stops all
	hack/dev.sh

include mk/controlplane.mk
include mk/chart.mk
include mk/bench.mk
include mk/deny.mk
include mk/sbom.mk
include mk/kind.mk
