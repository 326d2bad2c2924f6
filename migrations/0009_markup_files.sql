-- Reason: an edit may carry a markup image (a transparent PNG drawn over the first image that
-- shows the model what to change), stored with the job's inputs like a mask. SQLite cannot
-- change a CHECK constraint in place, so job_files is rebuilt with 'markup' allowed.
CREATE TABLE job_files_new (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('input', 'mask', 'markup', 'result')),
    idx        INTEGER NOT NULL,
    path       TEXT    NOT NULL,             -- relative to DATA_DIR
    mime       TEXT    NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, role, idx)
);

INSERT INTO job_files_new (job_id, role, idx, path, mime, width, height, bytes, created_at)
SELECT job_id, role, idx, path, mime, width, height, bytes, created_at FROM job_files;

DROP TABLE job_files;

ALTER TABLE job_files_new RENAME TO job_files;

CREATE INDEX job_files_created_idx ON job_files (created_at);
