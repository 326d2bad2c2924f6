-- Migration: 0008
-- Reason: what a member reads about an ended job's cost (measured, an upper-bound estimate, or
-- in doubt) comes from the job's ledger rows. `jobs.billing` is set by the same transaction that
-- ends the job (bot/store/endings.py), computed by the database from those rows, so the two
-- cannot disagree: 'in_doubt' when any row may have been billed without an answer, else
-- 'estimated' when any row was charged its estimate (no `usage`), else 'actual'. NULL while the
-- job has not ended.

ALTER TABLE jobs ADD COLUMN billing TEXT
    CHECK (billing IS NULL OR billing IN ('actual', 'estimated', 'in_doubt'));

UPDATE jobs SET billing = (
    SELECT CASE
        WHEN SUM(c.billing = 'in_doubt') > 0 THEN 'in_doubt'
        WHEN SUM(c.billing = 'estimated') > 0 THEN 'estimated'
        ELSE 'actual'
    END
    FROM api_calls c WHERE c.job_id = jobs.id
)
WHERE state IN ('succeeded', 'failed', 'cancelled', 'unknown');
