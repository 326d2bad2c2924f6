-- Migration: 0008
-- Reason: what a member reads about an ended job's cost (measured, an upper-bound estimate, or
-- in doubt) comes from the job's ledger rows. `jobs.billing` is set by the same transaction that
-- ends the job (bot/store/endings.py), computed by the database from those rows, so the two
-- cannot disagree: 'in_doubt' when any row may have been billed without an answer, else
-- 'estimated' when any row was charged its estimate (no `usage`), else 'actual'. NULL while the
-- job has not ended.

ALTER TABLE jobs ADD COLUMN billing TEXT
    CHECK (billing IS NULL OR billing IN ('actual', 'estimated', 'in_doubt'));

-- One definition of a job's billing from its rows, read by the ending's write and below.
CREATE VIEW job_billing AS
SELECT job_id,
       CASE
           WHEN SUM(billing = 'in_doubt') > 0 THEN 'in_doubt'
           WHEN SUM(billing = 'estimated') > 0 THEN 'estimated'
           ELSE 'actual'
       END AS billing
FROM api_calls WHERE job_id IS NOT NULL GROUP BY job_id;

UPDATE jobs SET billing = COALESCE((SELECT b.billing FROM job_billing b WHERE b.job_id = jobs.id),
                                   'actual')
WHERE state IN ('succeeded', 'failed', 'cancelled', 'unknown');
