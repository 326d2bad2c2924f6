-- Migration: 0010
-- Reason: operators decide which guilds the bot serves (GUILDS, /operator allow|deny); the
-- account's own ceilings (ACCOUNT_DAILY_USD, ACCOUNT_MONTHLY_USD) sum every guild's day: an
-- index by day keeps that sum to the day's rows; a running job records what it has not sent yet.

CREATE TABLE served_guilds (
    guild_id   INTEGER PRIMARY KEY,
    allowed    INTEGER NOT NULL,   -- 1: /operator allow, 0: /operator deny
    changed_by INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
);

CREATE INDEX guild_day_use_by_day ON guild_day_use (day);

-- A running job's image slots not yet sent and their share of its reservation, written before
-- each request goes out: a crash leaves in doubt only what was sent (NULL: nothing sent yet,
-- or a job from before this migration).
ALTER TABLE jobs ADD COLUMN unsent_images INTEGER;
ALTER TABLE jobs ADD COLUMN unsent_micro_usd INTEGER;

-- /config set paused: new jobs refused while on, queued ones kept (NULL = off).
ALTER TABLE guild_settings ADD COLUMN paused INTEGER;
