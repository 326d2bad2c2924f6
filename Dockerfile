# Multi-stage: dependencies are installed once, at the versions pinned in requirements.lock, in a
# virtual environment; the final image runs as a numeric non-root user (Kubernetes' runAsNonRoot
# accepts it) with SQLite and kept images on the /data volume. No secrets are baked in: pass
# DISCORD_TOKEN and OPENAI_API_KEY at run time (docker run --env-file .env ..., or compose.yaml).
# The base is pinned to a Debian release (bookworm), so a rebuild does not move to another one.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --no-deps -r requirements.lock

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 bot \
 && useradd --create-home --uid 10001 --gid 10001 bot \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /venv /venv
WORKDIR /app
COPY bot ./bot
COPY cogs ./cogs
COPY migrations ./migrations
# HTTP_HOST 0.0.0.0 inside the container, so a published port reaches /readyz and /metrics;
# publish it on the host's loopback (compose.yaml does: 127.0.0.1:8080:8080).
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    DATA_DIR=/data \
    HTTP_PORT=8080 \
    HTTP_HOST=0.0.0.0
VOLUME /data
EXPOSE 8080
USER 10001:10001
# Ready = the Discord gateway connected, the database answering, the provider reachable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=45s --retries=3 \
    CMD ["python", "-m", "bot.ops.probe"]
# A clean stop needs up to ~75 s (in-flight calls 55 s, then deliveries): run with
# `docker stop -t 75` / `docker run --stop-timeout 75`; compose.yaml sets stop_grace_period.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
