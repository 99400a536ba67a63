# syntax=docker/dockerfile:1
# proxy-order-operator image: static musl binaries on distroless, non-root.
#   docker build -t proxy-order-operator:dev .
# Also contains the provider simulator (/usr/local/bin/proxy-solutions-sim) for demos:
#   docker run --rm -p 18080:18080 --entrypoint /usr/local/bin/proxy-solutions-sim \
#     proxy-order-operator:dev --listen 0.0.0.0:18080 --api-key dev-key

FROM rust:1-bookworm AS builder
ARG RUST_TARGET=x86_64-unknown-linux-musl
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "${RUST_TARGET}"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY wire ./wire
COPY simulator ./simulator
# A workspace member (the suites' test kit): cargo reads every member's manifest; nothing of it
# is built here.
COPY testkit ./testkit
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target "${RUST_TARGET}" \
      --bin proxy-order-operator --bin proxy-solutions-sim \
 && mkdir -p /out \
 && cp "target/${RUST_TARGET}/release/proxy-order-operator" \
       "target/${RUST_TARGET}/release/proxy-solutions-sim" /out/

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="proxy-order-operator" \
      org.opencontainers.image.description="Kubernetes operator that manages proxy-solutions proxy orders declaratively" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/proxy-order-operator /usr/local/bin/proxy-order-operator
COPY --from=builder /out/proxy-solutions-sim /usr/local/bin/proxy-solutions-sim
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/proxy-order-operator"]
