-- Migration: 0014
-- Reason: admission reads, with the guild's settings, a member's results that no message could
-- show (bot/store/standing.py). Only those rows are in this index, so the read costs the same
-- however many jobs the member has made (tests/unit/jobs/admit/test_admission.py).

CREATE INDEX jobs_unseen_idx ON jobs (guild_id, user_id, finished_at)
    WHERE state = 'succeeded' AND delivered_at IS NULL;
