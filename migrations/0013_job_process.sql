-- Migration: 0013
-- Reason: with DATABASE_URL set, a process that loses the dispatcher lease while it lives goes
-- on settling the calls it has in flight. The process that marked a job running is recorded, so
-- the next dispatcher ends as unknown only the running jobs of processes that are gone (each
-- live process holds an advisory lock of its own, bot/db/locks.py). SQLite (one process) leaves
-- it NULL.

ALTER TABLE jobs ADD COLUMN process_id INTEGER;
