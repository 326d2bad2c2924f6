# Multi-stage: dependencies are built once in a virtual environment, the final image runs as a
# non-root user with SQLite and kept images on the /data volume. No secrets are baked in: pass
# DISCORD_TOKEN and OPENAI_API_KEY at run time (docker run --env-file .env ...).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml ./
RUN python -m venv /venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /venv/bin/pip install --no-cache-dir -r requirements.txt

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 bot && mkdir /data && chown bot:bot /data
COPY --from=build /venv /venv
WORKDIR /app
COPY bot ./bot
COPY cogs ./cogs
COPY migrations ./migrations
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    DATA_DIR=/data
VOLUME /data
USER bot
HEALTHCHECK --interval=5m --timeout=30s CMD ["python", "-m", "bot", "check"]
CMD ["python", "-m", "bot"]
