-- Migration: 0012 (PostgreSQL; SQLite's is ../0012_interaction_origins.sql, which explains it)
-- Reason: a job's interaction (its token, for 15 minutes), so that whichever process runs the
-- job edits the member's original response.

CREATE TABLE interaction_origins (
    job_id         BIGINT PRIMARY KEY REFERENCES jobs (id),
    application_id BIGINT  NOT NULL,
    token          TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    private        INTEGER NOT NULL
);

CREATE INDEX interaction_origins_by_created ON interaction_origins (created_at);
