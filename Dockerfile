# taxii-mirror container image: multi-stage, release build with --locked, Debian slim
# runtime, non-root user 10001. Build and run steps live in deploy/container.sh, which the
# tests also run directly on a host.
#
#   docker build -t taxii-mirror .
#   docker compose -f deploy/compose.yaml up -d
#
# Expected size: about 95 MB (debian:bookworm-slim 75 MB, ca-certificates 1 MB, the
# stripped binary under 20 MB).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN deploy/container.sh build /out

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/container.sh /usr/local/lib/taxii-mirror/container.sh
RUN /usr/local/lib/taxii-mirror/container.sh setup /
COPY --from=build /out/usr/local/bin/taxii-mirror /usr/local/bin/taxii-mirror

# Config and certificates are mounted at /etc/taxii-mirror; the store is the volume.
VOLUME ["/var/lib/taxii-mirror"]
USER 10001:10001
# Two glibc malloc arenas instead of eight per core: the server's threads hand buffers to
# each other, and more arenas only hold more freed memory (see README, Performance).
ENV MALLOC_ARENA_MAX=2
# Port 443 without root: Docker sets net.ipv4.ip_unprivileged_port_start=0 in the
# container's network namespace (Docker 20.10 and later; compose.yaml sets it too).
EXPOSE 443
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/taxii-mirror", "healthcheck", "--data", "/var/lib/taxii-mirror"]
ENTRYPOINT ["/usr/local/lib/taxii-mirror/container.sh", "run"]
