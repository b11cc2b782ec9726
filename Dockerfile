# Pluto Bridge: one process; the public web port (sign-in pages, webhooks) and a management
# port (/healthz, /readyz, /metrics) kept off the public address; state in
# /var/lib/pluto-bridge (SQLite by default; PostgreSQL with PLUTO_BRIDGE_STORE__URL).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY adapters ./adapters
COPY sandbox ./sandbox
# The platforms' SDKs are extras: every one by default, fewer with --build-arg EXTRAS=slack,teams.
# The PostgreSQL driver is always in (store.url = "postgresql+asyncpg://...", for replicas).
ARG EXTRAS=all
RUN pip install --no-cache-dir --prefix=/install ".[${EXTRAS},postgres]"

FROM python:3.11-slim
RUN useradd --system --home-dir /var/lib/pluto-bridge --create-home pluto
COPY --from=build /install /usr/local
USER pluto
WORKDIR /var/lib/pluto-bridge
ENV PLUTO_BRIDGE_STORE__URL="sqlite+aiosqlite:////var/lib/pluto-bridge/bridge.sqlite3" \
    PLUTO_BRIDGE_WEB__HOST="0.0.0.0" \
    PLUTO_BRIDGE_WEB__PORT="8080" \
    PLUTO_BRIDGE_WEB__MANAGEMENT_LISTEN="0.0.0.0:9090"
VOLUME ["/var/lib/pluto-bridge"]
EXPOSE 8080 9090
# Liveness on the management port: unhealthy only when the process or one of its loops is
# stuck (an LMS outage is /readyz's business, not a reason to restart).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=4).status == 200 else 1)"
ENTRYPOINT ["pluto-bridge"]
CMD ["run", "--config", "/etc/pluto-bridge/bridge.toml"]
