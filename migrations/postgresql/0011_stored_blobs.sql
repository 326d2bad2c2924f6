-- Migration: 0011 (PostgreSQL; SQLite's is ../0011_stored_blobs.sql, which explains it)
-- Reason: kept files (inputs, results) in the database, where every process reaches them.
CREATE TABLE stored_blobs (
    relpath    TEXT   PRIMARY KEY,
    data       BYTEA  NOT NULL,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Images are already compressed (PNG, JPEG, WebP): stored out of line without another attempt
-- at compression (https://www.postgresql.org/docs/15/storage-toast.html).
ALTER TABLE stored_blobs ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE INDEX stored_blobs_created_idx ON stored_blobs (created_at);
