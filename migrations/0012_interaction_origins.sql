-- Migration: 0012
-- Reason: with DATABASE_URL set, the process that runs a job is often not the one that admitted
-- it. The interaction's token lets any process edit the member's original response over REST
-- (https://discord.com/developers/docs/interactions/receiving-and-responding#edit-original-interaction-response).
-- The token is a credential for 15 minutes: the row goes when the job ends, and expired rows are
-- purged (bot/jobs/origins.py). SQLite (one process) never writes this table.

CREATE TABLE interaction_origins (
    job_id         INTEGER PRIMARY KEY REFERENCES jobs (id),
    application_id INTEGER NOT NULL,
    token          TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,   -- the interaction's creation: the token lives 15 min
    private        INTEGER NOT NULL    -- 1: the original response is ephemeral
);

CREATE INDEX interaction_origins_by_created ON interaction_origins (created_at);
