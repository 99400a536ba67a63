# The images' SBOMs (CycloneDX 1.5 JSON) with cargo-cyclonedx: one per binary an image carries
# and per Rust target the Dockerfile builds, into target/sbom/, each checked against the crates
# cargo links for that target (hack/sbom.sh). Included by the top-level Makefile.
#
#   make sbom                    write and check them; part of `make test`
#   make sbom SBOM_TARGETS=x86_64-unknown-linux-musl
#   make sbom-install            build the pinned cargo-cyclonedx into the project's tool cache

SBOM_VERSION := 0.5.9
SBOM_TARGETS ?= x86_64-unknown-linux-musl aarch64-unknown-linux-musl
SBOM_ROOT_DIR := $(or $(PROXY_ORDER_CACHE),$(HOME)/.cache/proxy-order-operator)/tools/cargo-cyclonedx-$(SBOM_VERSION)
SBOM_BIN := $(SBOM_ROOT_DIR)/bin/cargo-cyclonedx

.PHONY: sbom sbom-install

sbom-install: ## build the pinned cargo-cyclonedx (SBOM_VERSION) into the tool cache unless already there
	@set -eu; \
	if [ -x "$(SBOM_BIN)" ] && [ "$$("$(SBOM_BIN)" cyclonedx --version 2>/dev/null)" = "cargo-cyclonedx-cyclonedx $(SBOM_VERSION)" ]; then \
	  echo "sbom-install: cargo-cyclonedx $(SBOM_VERSION) is installed in $(SBOM_ROOT_DIR)"; \
	else \
	  echo "sbom-install: building cargo-cyclonedx $(SBOM_VERSION) into $(SBOM_ROOT_DIR); this compiles it and takes a minute or two"; \
	  mkdir -p "$(dir $(SBOM_ROOT_DIR))"; \
	  exec 9>"$(SBOM_ROOT_DIR).lock"; flock 9; \
	  cargo install --locked --force --root "$(SBOM_ROOT_DIR)" cargo-cyclonedx --version $(SBOM_VERSION); \
	fi

sbom: sbom-install ## the images' SBOMs (CycloneDX, per binary and target) into target/sbom/, checked against what cargo links
	hack/sbom.sh "$(SBOM_BIN)" $(SBOM_TARGETS)
