# Scale benchmark (benches/scale/): N ProxyOrders against a fresh local control plane, the
# in-process provider simulator and the release operator binary. Prints a markdown table and
# writes docs/benchmarks.md. Included by the top-level Makefile:  include mk/bench.mk
#
#   make bench                 N = 1000
#   make bench BENCH_N=200     a quicker run
#
# It never fails on timings, only when something is functionally broken.

BENCH_ROOT := $(patsubst %mk/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BENCH_N ?= 1000
BENCH_CARGO ?= cargo

.PHONY: bench
bench: controlplane-build ## scale benchmark on a fresh local control plane (BENCH_N=1000); writes docs/benchmarks.md
	cd $(if $(BENCH_ROOT),$(BENCH_ROOT),.) && $(BENCH_CARGO) build --locked --release --bins
	cd $(if $(BENCH_ROOT),$(BENCH_ROOT),.) && $(BENCH_CARGO) bench --locked --bench scale --no-run
	cd $(if $(BENCH_ROOT),$(BENCH_ROOT),.) && BENCH_N=$(BENCH_N) \
	  tests/controlplane/with-controlplane.sh $(BENCH_CARGO) bench --locked --bench scale
