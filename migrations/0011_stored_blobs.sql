-- Migration: 0011
-- Reason: with DATABASE_URL set, every process must reach a job's kept files (a result made on
-- one host is re-sent, re-rolled or edited from another), so the files live in the database:
-- one row per file, keyed by the path job_files names. On SQLite the bot keeps them on disk
-- under DATA_DIR (bot/store/disk_files.py) and this table stays empty; it exists so that both
-- dialects have the same schema (bot/store/blobs.py runs on either).
CREATE TABLE stored_blobs (
    relpath    TEXT    PRIMARY KEY,   -- job_files.path
    data       BLOB    NOT NULL,
    size       INTEGER NOT NULL,      -- bytes, = length(data)
    created_at INTEGER NOT NULL       -- unix seconds, UTC, as every table here
);

-- Retention sweeps files whose rows are gone (a crash between its two steps) by age.
CREATE INDEX stored_blobs_created_idx ON stored_blobs (created_at);
