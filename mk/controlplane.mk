# Test Kubernetes control plane built from Go modules (tests/controlplane/).
# Included by the top-level Makefile:  include mk/controlplane.mk
#
#   make controlplane-build   build etcd, kube-apiserver, kube-controller-manager,
#                            kubectl and helm into the cache (first time: many minutes)
#   make controlplane-up     start the control plane (. target/controlplane/env to use it)
#   make controlplane-down   stop it
#   make test-cluster        up, run tests/controlplane/smoke.sh, always down
#
# Other targets can reuse the wrapper, e.g.:
#   tests/controlplane/with-controlplane.sh cargo test --features failpoints --test e2e

# Relative to this file, so it works whatever the including Makefile's location.
# ("mk/" -> "", "/path/to/repo/mk/" -> "/path/to/repo/").
CONTROLPLANE_ROOT := $(patsubst %mk/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CONTROLPLANE_DIR := $(CONTROLPLANE_ROOT)tests/controlplane

.PHONY: controlplane-build controlplane-up controlplane-down test-cluster

controlplane-build: ## build etcd, kube-apiserver, kube-controller-manager, kubectl, helm into the cache (first time ~15 min)
	$(CONTROLPLANE_DIR)/build.sh

controlplane-up: ## start the local control plane; then: . target/controlplane/env
	$(CONTROLPLANE_DIR)/up.sh

controlplane-down: ## stop the local control plane
	$(CONTROLPLANE_DIR)/down.sh

test-cluster: ## control plane up, tests/controlplane/smoke.sh, always down
	$(CONTROLPLANE_DIR)/with-controlplane.sh $(CONTROLPLANE_DIR)/smoke.sh
