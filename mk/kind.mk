# The kind tier (tests/kind/): a real single-node kind cluster, the chart installed with the
# project's images, a user's journey on it. Included by the top-level Makefile:  include mk/kind.mk
#
#   make test-kind                       the tier alone (also the last step of `make test`)
#   make test-kind KIND_PUBLIC_IMAGES=1  with kind's public kindest/node and the Dockerfile's
#                                        public base images (Docker and internet; docs/kind.md)
#   make test-kind KIND_KEEP=1           keep the cluster and the engine afterwards
#
# First run on a machine: builds kubelet, kubeadm, kube-scheduler, kube-proxy, CoreDNS and pause
# into the control plane's cache (tests/controlplane/build.sh), a Debian root file system and
# the images; later runs reuse them (docs/kind.md; the measured times: docs/testing.md#kind-tier-times).

KIND_ROOT := $(patsubst %mk/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: test-kind
test-kind: ## kind tier: Docker engine, kind, images, a single-node cluster, the user's journey (tests/kind/run.sh)
	$(if $(KIND_ROOT),$(KIND_ROOT),./)tests/kind/run.sh
