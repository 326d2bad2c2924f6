-- Migration: 0010 (PostgreSQL; SQLite's is ../0010_served_guilds.sql, which explains it)
-- Reason: served guilds (GUILDS, /operator), the account's ceilings' index by day, a running
-- job's unsent slots, and /config set paused.

CREATE TABLE served_guilds (
    guild_id   BIGINT PRIMARY KEY,
    allowed    INTEGER NOT NULL,   -- 1: /operator allow, 0: /operator deny
    changed_by BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE INDEX guild_day_use_by_day ON guild_day_use (day);

ALTER TABLE jobs ADD COLUMN unsent_images INTEGER;
ALTER TABLE jobs ADD COLUMN unsent_micro_usd BIGINT;

ALTER TABLE guild_settings ADD COLUMN paused INTEGER;
