# syntax=docker/dockerfile:1
# Multi-stage: build with the Rust toolchain, run on a slim Debian as a non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# `--build-arg SIGIL_FEATURES=pprof` builds in the CPU profiler (docs/operations.md).
ARG SIGIL_FEATURES=""
RUN cargo build --release --locked --bin sigil --bin sigil-admin \
    ${SIGIL_FEATURES:+--features sigil-server/$SIGIL_FEATURES}

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sigil \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/sigil
COPY --from=build /src/target/release/sigil /src/target/release/sigil-admin /usr/local/bin/
USER 10001:10001
ENV SIGIL_LISTEN=0.0.0.0:8080 \
    SIGIL_DATA_DIR=/var/lib/sigil \
    SIGIL_LOG_FORMAT=json
VOLUME ["/var/lib/sigil"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["sigil"]
CMD ["serve"]
