# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian with a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
RUN cargo build --release --locked && strip target/release/loadpacer

FROM debian:bookworm-slim
# Unpinned on purpose: bookworm-slim security updates should land on rebuild (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/loadpacer --create-home loadpacer
COPY --from=build /src/target/release/loadpacer /usr/local/bin/loadpacer
USER 10001
WORKDIR /var/lib/loadpacer
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["/usr/local/bin/loadpacer"]
CMD ["serve", "--config", "/etc/loadpacer/loadpacer.yaml"]
