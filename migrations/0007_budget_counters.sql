-- Migration: 0007
-- Reason: admission checks the budgets against per-day totals of what jobs count (a guild's,
-- and each member's) and against per-member queued counts, kept by triggers on `jobs`, so it
-- reads a few rows instead of every job of the guild's month (0.27 ms at 2,000 jobs, 1.1 ms at
-- 8,000, growing with traffic). The totals always equal SUM(charged_*) and COUNT(queued) over
-- `jobs` (tests/unit/store/test_jobs.py recounts them).

CREATE TABLE guild_day_use (
    guild_id   INTEGER NOT NULL,
    day        INTEGER NOT NULL,   -- created_at / 86400: the UTC day number
    micro_usd  INTEGER NOT NULL,   -- SUM(charged_micro_usd) of the jobs created that day
    images     INTEGER NOT NULL,   -- SUM(charged_images)
    PRIMARY KEY (guild_id, day)
) WITHOUT ROWID;

CREATE TABLE member_day_use (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    micro_usd  INTEGER NOT NULL,
    images     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, day)
) WITHOUT ROWID;

CREATE TABLE member_queued (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    queued     INTEGER NOT NULL,   -- COUNT(*) of the member's jobs in state 'queued'
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

INSERT INTO guild_day_use
SELECT guild_id, created_at / 86400, SUM(charged_micro_usd), SUM(charged_images)
FROM jobs GROUP BY guild_id, created_at / 86400;

INSERT INTO member_day_use
SELECT guild_id, user_id, created_at / 86400, SUM(charged_micro_usd), SUM(charged_images)
FROM jobs GROUP BY guild_id, user_id, created_at / 86400;

INSERT INTO member_queued
SELECT guild_id, user_id, COUNT(*) FROM jobs WHERE state = 'queued' GROUP BY guild_id, user_id;

CREATE TRIGGER jobs_use_on_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO guild_day_use VALUES (
        NEW.guild_id, NEW.created_at / 86400, NEW.charged_micro_usd, NEW.charged_images
    )
    ON CONFLICT (guild_id, day) DO UPDATE SET
        micro_usd = micro_usd + excluded.micro_usd, images = images + excluded.images;
    INSERT INTO member_day_use VALUES (
        NEW.guild_id, NEW.user_id, NEW.created_at / 86400, NEW.charged_micro_usd,
        NEW.charged_images
    )
    ON CONFLICT (guild_id, user_id, day) DO UPDATE SET
        micro_usd = micro_usd + excluded.micro_usd, images = images + excluded.images;
    INSERT INTO member_queued
    SELECT NEW.guild_id, NEW.user_id, 1 WHERE NEW.state = 'queued'
    ON CONFLICT (guild_id, user_id) DO UPDATE SET queued = queued + 1;
END;

-- Settlement and cancellation change the charges; nothing changes a job's guild, member or
-- creation time, but should anything do so the totals still move from OLD's key to NEW's.
CREATE TRIGGER jobs_use_on_update
AFTER UPDATE OF charged_micro_usd, charged_images, guild_id, user_id, created_at ON jobs
BEGIN
    UPDATE guild_day_use
    SET micro_usd = micro_usd - OLD.charged_micro_usd, images = images - OLD.charged_images
    WHERE guild_id = OLD.guild_id AND day = OLD.created_at / 86400;
    UPDATE member_day_use
    SET micro_usd = micro_usd - OLD.charged_micro_usd, images = images - OLD.charged_images
    WHERE guild_id = OLD.guild_id AND user_id = OLD.user_id AND day = OLD.created_at / 86400;
    INSERT INTO guild_day_use VALUES (
        NEW.guild_id, NEW.created_at / 86400, NEW.charged_micro_usd, NEW.charged_images
    )
    ON CONFLICT (guild_id, day) DO UPDATE SET
        micro_usd = micro_usd + excluded.micro_usd, images = images + excluded.images;
    INSERT INTO member_day_use VALUES (
        NEW.guild_id, NEW.user_id, NEW.created_at / 86400, NEW.charged_micro_usd,
        NEW.charged_images
    )
    ON CONFLICT (guild_id, user_id, day) DO UPDATE SET
        micro_usd = micro_usd + excluded.micro_usd, images = images + excluded.images;
END;

CREATE TRIGGER jobs_queued_on_update AFTER UPDATE OF state, guild_id, user_id ON jobs
WHEN OLD.state = 'queued' OR NEW.state = 'queued'
BEGIN
    UPDATE member_queued SET queued = queued - 1
    WHERE OLD.state = 'queued' AND guild_id = OLD.guild_id AND user_id = OLD.user_id;
    INSERT INTO member_queued
    SELECT NEW.guild_id, NEW.user_id, 1 WHERE NEW.state = 'queued'
    ON CONFLICT (guild_id, user_id) DO UPDATE SET queued = queued + 1;
END;

CREATE TRIGGER jobs_use_on_delete AFTER DELETE ON jobs
BEGIN
    UPDATE guild_day_use
    SET micro_usd = micro_usd - OLD.charged_micro_usd, images = images - OLD.charged_images
    WHERE guild_id = OLD.guild_id AND day = OLD.created_at / 86400;
    UPDATE member_day_use
    SET micro_usd = micro_usd - OLD.charged_micro_usd, images = images - OLD.charged_images
    WHERE guild_id = OLD.guild_id AND user_id = OLD.user_id AND day = OLD.created_at / 86400;
    UPDATE member_queued SET queued = queued - 1
    WHERE OLD.state = 'queued' AND guild_id = OLD.guild_id AND user_id = OLD.user_id;
END;
