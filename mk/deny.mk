# Supply-chain check with cargo-deny (configuration: deny.toml): licenses, banned and duplicate
# crates, crate sources, and RustSec advisories (including yanked crates). Included by the
# top-level Makefile:  include mk/deny.mk   (also usable alone: make -f mk/deny.mk deny)
#
#   make deny                       all four checks; part of `make test`
#   make deny DENY_ADVISORIES=skip  licenses, bans and sources only
#   make deny-install               build the pinned cargo-deny into the project's tool cache
#                                   ($PROXY_ORDER_CACHE/tools/, default ~/.cache/proxy-order-operator)
#                                   unless it is already there
#
# Advisories need the RustSec database, which cargo-deny clones from GitHub with git. When that
# is not reachable (probed with a short timeout first), a snapshot of it is used instead
# (DENY_ADVISORY_SNAPSHOT: a folder of the database's files, e.g. the workplace's
# ../shared/advisory-db): it is made a one-commit git repository in the tool cache, where
# cargo-deny reads it offline, and the report says the snapshot's date. With neither, `make deny`
# prints that the advisories were NOT checked and does not fail. An advisory or a yanked crate
# fails the check.

# Relative to this file ("mk/" -> "", "/path/to/repo/mk/" -> "/path/to/repo/").
DENY_ROOT := $(patsubst %mk/,%,$(dir $(lastword $(MAKEFILE_LIST))))
DENY_DIR := $(if $(DENY_ROOT),$(DENY_ROOT),.)

# The newest cargo-deny that builds with our stable rustc (0.20.2 needs rustc >= 1.88).
DENY_VERSION := 0.20.2
DENY_CARGO ?= cargo
# check | skip
DENY_ADVISORIES ?= check
# Keep in step with db-urls in deny.toml; only used for the reachability probe.
DENY_ADVISORY_DB_URL ?= https://github.com/rustsec/advisory-db
# Seconds: the reachability probe, and each cargo-deny run (metadata + checks + DB fetch).
DENY_PROBE_TIMEOUT ?= 15
DENY_TIMEOUT ?= 300
# Extra arguments for cargo-deny before `check`, e.g. --config other.toml.
DENY_FLAGS ?=
# A snapshot of the RustSec database's files, used when GitHub is not reachable: the first of
# these folders that exists, unless set.
DENY_ADVISORY_SNAPSHOT ?= $(firstword $(wildcard $(abspath $(DENY_DIR)/../shared/advisory-db) /work/shared/advisory-db))
# Where cargo-deny looks for a database of DENY_ADVISORY_DB_URL under a db-path (its naming).
DENY_ADVISORY_DB_DIRNAME := advisory-db-3157b0e258782691

# cargo-deny lives in the project's tool cache, beside the control plane, so that a fresh machine
# (or `make test-cold`) builds it and an unrelated cargo-deny on PATH is never used.
DENY_ROOT_DIR := $(or $(PROXY_ORDER_CACHE),$(HOME)/.cache/proxy-order-operator)/tools/cargo-deny-$(DENY_VERSION)
DENY_BIN := $(DENY_ROOT_DIR)/bin/cargo-deny

DENY_RUN := timeout --kill-after=10 $(DENY_TIMEOUT) "$(DENY_BIN)" deny --locked $(DENY_FLAGS)
DENY_SNAPSHOT_DIR := $(or $(PROXY_ORDER_CACHE),$(HOME)/.cache/proxy-order-operator)/tools/advisory-db-snapshot

.PHONY: deny deny-install

deny-install: ## build the pinned cargo-deny (DENY_VERSION) into the tool cache unless already there
	@set -eu; \
	have="$$("$(DENY_BIN)" --version 2>/dev/null || true)"; \
	if [ "$$have" = "cargo-deny $(DENY_VERSION)" ]; then \
	  echo "deny-install: $$have is installed in $(DENY_ROOT_DIR)"; \
	else \
	  echo "deny-install: building cargo-deny $(DENY_VERSION) into $(DENY_ROOT_DIR); this compiles it and takes a few minutes"; \
	  mkdir -p "$(dir $(DENY_ROOT_DIR))"; \
	  exec 9>"$(DENY_ROOT_DIR).lock"; flock 9; \
	  if [ "$$("$(DENY_BIN)" --version 2>/dev/null || true)" != "cargo-deny $(DENY_VERSION)" ]; then \
	    $(DENY_CARGO) install --locked --force --root "$(DENY_ROOT_DIR)" cargo-deny --version $(DENY_VERSION); \
	  fi; \
	fi

deny: deny-install ## supply chain (deny.toml): licenses, bans, sources; RustSec advisories where GitHub is reachable
	cd $(DENY_DIR) && $(DENY_RUN) check licenses bans sources
	@set -eu; cd $(DENY_DIR); \
	not_checked() { echo "deny: advisories NOT checked: $$1; licenses, bans and sources were checked"; }; \
	case "$(DENY_ADVISORIES)" in \
	  skip) not_checked "skipped with DENY_ADVISORIES=skip"; exit 0 ;; \
	  check) ;; \
	  *) echo "deny: DENY_ADVISORIES must be 'check' or 'skip', not '$(DENY_ADVISORIES)'" >&2; exit 2 ;; \
	esac; \
	if ! command -v git >/dev/null 2>&1; then \
	  not_checked "git, which cargo-deny fetches the RustSec advisory database with, is not installed"; exit 0; \
	fi; \
	offline=""; \
	if ! GIT_TERMINAL_PROMPT=0 timeout --kill-after=5 $(DENY_PROBE_TIMEOUT) \
	    git ls-remote --heads "$(DENY_ADVISORY_DB_URL)" main >/dev/null 2>&1; then \
	  snap="$(DENY_ADVISORY_SNAPSHOT)"; \
	  if [ -z "$$snap" ] || [ ! -d "$$snap/crates" ]; then \
	    not_checked "the RustSec advisory database ($(DENY_ADVISORY_DB_URL)) is not reachable from this machine and no snapshot of it was given (DENY_ADVISORY_SNAPSHOT)"; exit 0; \
	  fi; \
	  db="$(DENY_SNAPSHOT_DIR)/$(DENY_ADVISORY_DB_DIRNAME)"; \
	  newest="$$(grep -rhoE '^date = "[0-9]{4}-[0-9]{2}-[0-9]{2}"' "$$snap/crates" | sort | tail -n1 | cut -d'"' -f2)"; \
	  sum="$$(cd "$$snap" && find . -type f ! -path './.git/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"; \
	  if [ "$$(cat "$(DENY_SNAPSHOT_DIR)/.from" 2>/dev/null)" != "$$snap $$sum" ]; then \
	    rm -rf "$(DENY_SNAPSHOT_DIR)"; mkdir -p "$$db"; \
	    cp -R "$$snap"/. "$$db"/; rm -rf "$$db/.git"; \
	    git -C "$$db" init -q; \
	    git -C "$$db" -c user.name=snapshot -c user.email=snapshot@localhost add -A; \
	    GIT_COMMITTER_DATE="$${newest}T00:00:00Z" GIT_AUTHOR_DATE="$${newest}T00:00:00Z" \
	      git -C "$$db" -c user.name=snapshot -c user.email=snapshot@localhost commit -q -m "snapshot of $$snap"; \
	    echo "$$snap $$sum" >"$(DENY_SNAPSHOT_DIR)/.from"; \
	  fi; \
	  sed "s#^db-urls = .*#&\ndb-path = \"$(DENY_SNAPSHOT_DIR)\"#" deny.toml >"$(DENY_SNAPSHOT_DIR)/deny.toml"; \
	  offline="--offline"; \
	  echo "deny: GitHub is not reachable: advisories from the snapshot $$snap (its newest advisory: $$newest); advisories published since are not checked"; \
	fi; \
	out="$$(mktemp)"; trap 'rm -f "$$out"' EXIT; \
	rc=0; \
	if [ -n "$$offline" ]; then \
	  timeout --kill-after=10 $(DENY_TIMEOUT) "$(DENY_BIN)" deny --locked --offline $(DENY_FLAGS) --config "$(DENY_SNAPSHOT_DIR)/deny.toml" check advisories >"$$out" 2>&1 || rc=$$?; \
	else \
	  GIT_TERMINAL_PROMPT=0 $(DENY_RUN) check advisories >"$$out" 2>&1 || rc=$$?; \
	fi; \
	cat "$$out"; \
	if [ "$$rc" = 0 ]; then exit 0; fi; \
	if [ "$$rc" = 124 ] || [ "$$rc" = 137 ]; then \
	  not_checked "cargo deny check advisories timed out after $(DENY_TIMEOUT)s (output above)"; exit 0; \
	fi; \
	if grep -q 'failed to fetch advisory database' "$$out"; then \
	  not_checked "fetching the RustSec advisory database ($(DENY_ADVISORY_DB_URL)) failed (output above)"; exit 0; \
	fi; \
	echo "deny: advisories check failed (output above); a justified exception goes into deny.toml [advisories] ignore with a reason" >&2; \
	exit 1
