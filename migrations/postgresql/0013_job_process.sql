-- Migration: 0013 (PostgreSQL; SQLite's is ../0013_job_process.sql, which explains it)
-- Reason: the process that runs a job, so that a live one's running jobs are left to it.

ALTER TABLE jobs ADD COLUMN process_id BIGINT;
