# proxy-order-operator images: static musl binaries on a distroless static base, non-root (65532).
#
#   docker build -t proxy-order-operator:dev .                                  # the operator (last stage)
#   docker build --target simulator -t proxy-solutions-sim:dev .                # the provider simulator
#   docker buildx build --platform linux/arm64 \
#     --build-arg RUST_TARGET=aarch64-unknown-linux-musl -t proxy-order-operator:dev-arm64 .  # arm64
#
# The operator image carries only the operator; the simulator (tests, demos) has its own image:
#   docker run --rm -p 18080:18080 proxy-solutions-sim:dev --listen 0.0.0.0:18080 --api-key dev-key
#
# Build arguments (the defaults are what a user with internet builds with):
#   RUST_IMAGE     the builder stage's base: a Rust toolchain on Debian bookworm.
#   RUNTIME_IMAGE  the base of both images: static, CA certificates, /etc/passwd with nonroot
#                  (65532).
#                  Both are pinned by digest (of the multi-platform index: one pin for amd64 and
#                  arm64), the tag kept for readers; `tests/packaging.rs` (make unit) holds every
#                  base pinned. To move to a newer base: `crane digest IMAGE:TAG` (or
#                  `docker buildx imagetools inspect IMAGE:TAG`) and replace the digest.
#   RUST_TARGET    x86_64-unknown-linux-musl (default) or aarch64-unknown-linux-musl: the binaries'
#                  target, cross-compiled by hack/build-static.sh (the C compiler and linker it needs
#                  come from Debian). The builder stage runs on BUILDPLATFORM (below), the
#                  images' base is the target platform's (--platform). `make test-arm64` builds
#                  the aarch64 binaries the same way and runs them under qemu-user.
#   BINARIES       source (default): the builder stage compiles the binaries with cargo.
#                  prebuilt: it takes them from prebuilt/ in the build context instead, built on the
#                  host with `hack/build-static.sh x86_64-unknown-linux-musl prebuilt`.
#                  The kind tier (tests/kind/) uses that: its engine has no network, so a container
#                  can reach neither crates.io nor rustup's servers, while the host's cargo has the
#                  crates and keeps its build cache between runs (a warm rebuild takes seconds, not
#                  a full release build). It passes its own local base images as RUST_IMAGE (any
#                  image with a shell: nothing is compiled there) and RUNTIME_IMAGE
#                  (tests/kind/images.sh builds them from Debian packages).
#
# No `# syntax=` line and no `RUN --mount`: the file also builds with the legacy builder
# (DOCKER_BUILDKIT=0), which the kind tier's Debian engine uses and which does not pull a FROM
# image that exists locally. The legacy builder builds every stage before the target, so the
# choice between compiling and taking prebuilt binaries is made inside the one builder stage.

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
# The builder stage's platform. BuildKit fills BUILDPLATFORM in, but a default given here takes
# precedence over its value, and the legacy builder sets none: so it is linux/amd64 unless given
# (--build-arg BUILDPLATFORM=linux/arm64 on an arm64 build machine).
ARG BUILDPLATFORM=linux/amd64

FROM --platform=${BUILDPLATFORM} ${RUST_IMAGE} AS builder
ARG BINARIES=source
ARG RUST_TARGET=x86_64-unknown-linux-musl
WORKDIR /src
# Only what the build needs (.dockerignore keeps the rest out of the context): the workspace's
# manifests and members (cargo reads every member's manifest, the test kit's too), prebuilt/
# (empty unless BINARIES=prebuilt) and the build script (the C compiler and linker per target).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY api ./api
COPY wire ./wire
COPY simulator ./simulator
COPY testkit ./testkit
COPY plugin ./plugin
COPY prebuilt ./prebuilt
COPY hack/build-static.sh ./hack/
RUN set -eu; mkdir -p /out; \
    case "${BINARIES}" in \
      prebuilt) \
        cp prebuilt/proxy-order-operator prebuilt/proxy-solutions-sim /out/ ;; \
      source) \
        apt-get update; \
        hack/build-static.sh "${RUST_TARGET}" /out; \
        rm -rf /var/lib/apt/lists/* ;; \
      *) echo "BINARIES must be source or prebuilt, not '${BINARIES}'" >&2; exit 1 ;; \
    esac; \
    chmod 0755 /out/*

FROM ${RUNTIME_IMAGE} AS simulator
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="proxy-solutions-sim" \
      org.opencontainers.image.source="https://github.com/proxy-order-operator/proxy-order-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.description="Simulator of the proxy-solutions provider API, for tests and demos" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/proxy-solutions-sim /usr/local/bin/proxy-solutions-sim
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/proxy-solutions-sim"]

FROM ${RUNTIME_IMAGE} AS operator
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="proxy-order-operator" \
      org.opencontainers.image.source="https://github.com/proxy-order-operator/proxy-order-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.description="Kubernetes operator that manages proxy-solutions proxy orders declaratively" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/proxy-order-operator /usr/local/bin/proxy-order-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/proxy-order-operator"]
