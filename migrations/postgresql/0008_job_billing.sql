-- Migration: 0008 (PostgreSQL; SQLite's is ../0008_job_billing.sql, which explains it)
-- Reason: an ended job's billing (measured, estimated, in doubt), computed from its ledger rows.

ALTER TABLE jobs ADD COLUMN billing TEXT
    CHECK (billing IS NULL OR billing IN ('actual', 'estimated', 'in_doubt'));

-- One definition of a job's billing from its rows, read by the ending's write and below.
CREATE VIEW job_billing AS
SELECT job_id,
       CASE
           WHEN bool_or(billing = 'in_doubt') THEN 'in_doubt'
           WHEN bool_or(billing = 'estimated') THEN 'estimated'
           ELSE 'actual'
       END AS billing
FROM api_calls WHERE job_id IS NOT NULL GROUP BY job_id;

UPDATE jobs SET billing = COALESCE((SELECT b.billing FROM job_billing b WHERE b.job_id = jobs.id),
                                   'actual')
WHERE state IN ('succeeded', 'failed', 'cancelled', 'unknown');
