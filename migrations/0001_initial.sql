-- Migration: 0001
-- Reason: jobs, their files, the API-call ledger, guild settings, role quotas and the audit log.
-- Times are INTEGER unix seconds (UTC); money is INTEGER micro-USD; Discord ids are INTEGER.

CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY,
    guild_id            INTEGER NOT NULL,
    channel_id          INTEGER NOT NULL,
    user_id             INTEGER NOT NULL,
    operation           TEXT    NOT NULL CHECK (operation IN ('generate', 'edit')),
    prompt              TEXT    NOT NULL,
    options_json        TEXT    NOT NULL,            -- ImageOptions as JSON
    state               TEXT    NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
                                         'cancelled', 'unknown')),
    -- What the job counts against the budgets: the reservation while queued, running or
    -- unknown; the real cost (and images delivered) once settled; 0 when released.
    charged_micro_usd   INTEGER NOT NULL,
    charged_images      INTEGER NOT NULL,
    estimated_micro_usd INTEGER NOT NULL,
    estimated_tokens    INTEGER NOT NULL,
    source_job_id       INTEGER REFERENCES jobs (id),  -- re-roll / edit lineage
    error_code          TEXT,
    error_message       TEXT,
    result_channel_id   INTEGER,
    result_message_id   INTEGER,
    delivered_at        INTEGER,
    created_at          INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER
);

CREATE INDEX jobs_state_idx ON jobs (state, id);
CREATE INDEX jobs_guild_user_created_idx ON jobs (guild_id, user_id, created_at);
-- Covers the budget sums (admission and /usage): no table lookups for a month of jobs.
CREATE INDEX jobs_guild_created_charged_idx
    ON jobs (guild_id, created_at, user_id, charged_micro_usd, charged_images);
-- Admission counts a guild's and a member's queued jobs inside its transaction.
CREATE INDEX jobs_guild_state_idx ON jobs (guild_id, state, user_id);

-- Inputs of queued edits and kept results, stored under DATA_DIR.
CREATE TABLE job_files (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('input', 'mask', 'result')),
    idx        INTEGER NOT NULL,
    path       TEXT    NOT NULL,             -- relative to DATA_DIR
    mime       TEXT    NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, role, idx)
);

CREATE INDEX job_files_created_idx ON job_files (created_at);

-- One row per Images API call, whatever its outcome.
CREATE TABLE api_calls (
    id                         INTEGER PRIMARY KEY,
    guild_id                   INTEGER NOT NULL,
    channel_id                 INTEGER NOT NULL,
    user_id                    INTEGER NOT NULL,
    job_id                     INTEGER REFERENCES jobs (id),
    model                      TEXT    NOT NULL,
    operation                  TEXT    NOT NULL,
    n                          INTEGER NOT NULL,
    images                     INTEGER NOT NULL DEFAULT 0,   -- images returned
    size                       TEXT    NOT NULL,
    quality                    TEXT    NOT NULL,
    text_input_tokens          INTEGER NOT NULL DEFAULT 0,
    cached_text_input_tokens   INTEGER NOT NULL DEFAULT 0,
    image_input_tokens         INTEGER NOT NULL DEFAULT 0,
    cached_image_input_tokens  INTEGER NOT NULL DEFAULT 0,
    image_output_tokens        INTEGER NOT NULL DEFAULT 0,
    text_output_tokens         INTEGER NOT NULL DEFAULT 0,
    partial_images             INTEGER NOT NULL DEFAULT 0,
    cost_micro_usd             INTEGER NOT NULL,
    price_version              TEXT    NOT NULL,
    request_id                 TEXT,
    http_status                INTEGER,
    error_code                 TEXT,
    latency_ms                 INTEGER NOT NULL,
    created_at                 INTEGER NOT NULL
);

CREATE INDEX api_calls_guild_created_idx ON api_calls (guild_id, created_at);
CREATE INDEX api_calls_guild_user_created_idx ON api_calls (guild_id, user_id, created_at);
CREATE INDEX api_calls_job_idx ON api_calls (job_id);
-- /usage (bot/store/usage.py): a covering index keyed by the UTC day number, so the per-day
-- aggregate by member follows index order instead of sorting every row. Queries must spell the
-- day exactly `created_at / 86400` to use it. (Per-day totals by model: see migration 0002.)
CREATE INDEX api_calls_guild_day_user_idx ON api_calls (
    guild_id, created_at / 86400, user_id, cost_micro_usd, images, created_at
);
-- Failed and refused calls are few; this partial index counts them without a scan.
CREATE INDEX api_calls_guild_failed_idx ON api_calls (guild_id, created_at, error_code)
    WHERE error_code IS NOT NULL OR http_status >= 400;

-- Per-guild limits and defaults. NULL means "use the built-in default"; 0 means "no limit".
CREATE TABLE guild_settings (
    guild_id                 INTEGER PRIMARY KEY,
    daily_micro_usd          INTEGER,
    monthly_micro_usd        INTEGER,
    daily_images             INTEGER,
    user_daily_images        INTEGER,
    user_daily_micro_usd     INTEGER,
    max_count                INTEGER,
    default_model            TEXT,
    default_quality          TEXT,
    default_size             TEXT,
    allowed_models           TEXT,           -- comma-separated; NULL = every model in the catalog
    moderation               TEXT,
    previews                 INTEGER,        -- 0/1
    log_channel_id           INTEGER,
    updated_at               INTEGER NOT NULL
);

-- Per-role overrides of the per-user limits; the most generous of a member's roles applies.
CREATE TABLE role_quotas (
    guild_id              INTEGER NOT NULL,
    role_id               INTEGER NOT NULL,
    user_daily_images     INTEGER,
    user_daily_micro_usd  INTEGER,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- Who changed which quota or setting, and when.
CREATE TABLE settings_changes (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    field      TEXT    NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    changed_at INTEGER NOT NULL
);

CREATE INDEX settings_changes_guild_idx ON settings_changes (guild_id, changed_at);

-- Small facts the bot keeps about itself (e.g. the hash of the last globally synced commands).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
