-- Migration: 0006
-- Reason: the relaxed speed sends jobs through OpenAI's Batch API. `batches` records each batch
-- around its creation (our key before the upload, the file id after it, the provider's batch id
-- after the create), so a restart resumes open batches and finds a batch whose create answer was
-- lost by the key in its metadata. `batch_jobs` puts a job in at most one batch (its primary
-- key); only a batch refused before it ran anything (the enqueued-token limit) gives its jobs back. The ledger tells relaxed calls apart (`speed`) and keeps what the same usage
-- would have cost at the fast price, for the saving /usage shows. Guilds choose whether members
-- may, by default do, or must use the relaxed speed (`relaxed`, NULL = off).

CREATE TABLE batches (
    id              INTEGER PRIMARY KEY,
    key             TEXT    NOT NULL UNIQUE,  -- metadata.imagebot_batch: how a restart finds it
    model           TEXT    NOT NULL,
    operation       TEXT    NOT NULL CHECK (operation IN ('generate', 'edit')),
    state           TEXT    NOT NULL DEFAULT 'preparing'
                    CHECK (state IN ('preparing', 'submitted', 'ended')),
    input_file_id   TEXT,
    openai_batch_id TEXT UNIQUE,
    status          TEXT,                     -- the provider's status, as last seen
    output_file_id  TEXT,
    error_file_id   TEXT,
    created_at      INTEGER NOT NULL,
    submitted_at    INTEGER,
    ended_at        INTEGER
);

CREATE INDEX batches_open_idx ON batches (state) WHERE state != 'ended';

CREATE TABLE batch_jobs (
    job_id    INTEGER PRIMARY KEY REFERENCES jobs (id),
    batch_id  INTEGER NOT NULL REFERENCES batches (id),
    custom_id TEXT    NOT NULL
);

CREATE INDEX batch_jobs_batch_idx ON batch_jobs (batch_id);

ALTER TABLE api_calls ADD COLUMN speed TEXT NOT NULL DEFAULT 'fast'
    CHECK (speed IN ('fast', 'relaxed'));
ALTER TABLE api_calls ADD COLUMN fast_cost_micro_usd INTEGER;  -- relaxed rows only

-- /usage splits fast from relaxed: relaxed rows are read through this covering partial index.
CREATE INDEX api_calls_relaxed_idx
    ON api_calls (guild_id, created_at, user_id, images, cost_micro_usd, fast_cost_micro_usd)
    WHERE speed = 'relaxed';

ALTER TABLE guild_settings ADD COLUMN relaxed TEXT;
