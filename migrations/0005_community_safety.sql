-- Migration: 0005
-- Reason: community safety and styles (issue 13): each guild's blocklist and named styles,
-- refusals made before anything is spent (blocklist, screening) for /usage and cool-downs, and
-- the guild settings for screening, spoilers and the cool-down. NULL settings = the default.

CREATE TABLE blocklist (
    guild_id   INTEGER NOT NULL,
    phrase_key TEXT    NOT NULL,   -- the folded words (bot/jobs/safety/blocklist.py phrase_key)
    phrase     TEXT    NOT NULL,   -- as the moderator wrote it, for refusals and /blocklist show
    added_by   INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, phrase_key)
) WITHOUT ROWID;

CREATE TABLE styles (
    guild_id   INTEGER NOT NULL,
    name_key   TEXT    NOT NULL,   -- the name, case-folded: names are unique regardless of case
    name       TEXT    NOT NULL,
    prompt     TEXT    NOT NULL,   -- may hold {prompt}; otherwise it follows the member's prompt
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, name_key)
) WITHOUT ROWID;

-- Refusals at admission; the safety system's refusals are ledger rows (api_calls).
CREATE TABLE refusals (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('blocklist', 'screening')),
    detail     TEXT    NOT NULL,   -- the blocked phrase, or the flagged categories
    created_at INTEGER NOT NULL
);

CREATE INDEX refusals_guild_user_created_idx ON refusals (guild_id, user_id, created_at);
CREATE INDEX refusals_guild_created_idx ON refusals (guild_id, created_at);

-- The chosen style's text as it was at admission: the prompt sent (and priced) is fixed then,
-- whatever a moderator changes later (jobs.style, migration 0003, has its name).
ALTER TABLE jobs ADD COLUMN style_text TEXT;

ALTER TABLE guild_settings ADD COLUMN screening TEXT;            -- off|prompts|prompts_and_images
ALTER TABLE guild_settings ADD COLUMN spoilers INTEGER;          -- 0/1
ALTER TABLE guild_settings ADD COLUMN cooldown_refusals INTEGER; -- refusals that start one; 0 = off
ALTER TABLE guild_settings ADD COLUMN cooldown_window_minutes INTEGER;
ALTER TABLE guild_settings ADD COLUMN cooldown_minutes INTEGER;
