-- Migration: 0008
-- Reason: operators decide which guilds the bot serves (GUILDS, /operator allow|deny), and the
-- account's own ceilings (ACCOUNT_DAILY_USD, ACCOUNT_MONTHLY_USD) sum every guild's day: an
-- index by day keeps that sum to the day's rows.

CREATE TABLE served_guilds (
    guild_id   INTEGER PRIMARY KEY,
    allowed    INTEGER NOT NULL,   -- 1: /operator allow, 0: /operator deny
    changed_by INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
);

CREATE INDEX guild_day_use_by_day ON guild_day_use (day);
