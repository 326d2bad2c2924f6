-- Migration: 0003 (PostgreSQL; SQLite's is ../0003_job_choices.sql, which explains it)
-- Reason: a job carries every choice its member made, so Re-roll repeats the same request.
-- The validated image options are in options_json already; the guild style's name and the
-- speed (fast, or relaxed through the Batch API) are new options of /imagine and /edit.
-- Jobs from before this migration were all fast and without a style.

ALTER TABLE jobs ADD COLUMN style TEXT;
ALTER TABLE jobs ADD COLUMN speed TEXT NOT NULL DEFAULT 'fast' CHECK (speed IN ('fast', 'relaxed'));
