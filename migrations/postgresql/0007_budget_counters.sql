-- Migration: 0007 (PostgreSQL; SQLite's is ../0007_budget_counters.sql, which explains it)
-- Reason: admission checks the budgets against per-day totals of what jobs count (a guild's,
-- and each member's) and against per-member queued counts, kept by triggers on `jobs`, so it
-- reads a few rows instead of every job of the guild's month (0.27 ms at 2,000 jobs, 1.1 ms at
-- 8,000, growing with traffic). The totals always equal SUM(charged_*) and COUNT(queued) over
-- `jobs` (tests/unit/store/test_jobs.py recounts them).

CREATE TABLE guild_day_use (
    guild_id   BIGINT NOT NULL,
    day        BIGINT NOT NULL,   -- created_at / 86400: the UTC day number
    micro_usd  BIGINT NOT NULL,   -- SUM(charged_micro_usd) of the jobs created that day
    images     BIGINT NOT NULL,   -- SUM(charged_images)
    PRIMARY KEY (guild_id, day)
);

CREATE TABLE member_day_use (
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    day        BIGINT NOT NULL,
    micro_usd  BIGINT NOT NULL,
    images     BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id, day)
);

CREATE TABLE member_queued (
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    queued     BIGINT NOT NULL,   -- COUNT(*) of the member's jobs in state 'queued'
    PRIMARY KEY (guild_id, user_id)
);

INSERT INTO guild_day_use
SELECT guild_id, created_at / 86400, SUM(charged_micro_usd), SUM(charged_images)
FROM jobs GROUP BY guild_id, created_at / 86400;

INSERT INTO member_day_use
SELECT guild_id, user_id, created_at / 86400, SUM(charged_micro_usd), SUM(charged_images)
FROM jobs GROUP BY guild_id, user_id, created_at / 86400;

INSERT INTO member_queued
SELECT guild_id, user_id, COUNT(*) FROM jobs WHERE state = 'queued' GROUP BY guild_id, user_id;

-- SQLite's four triggers as plpgsql functions; each adds NEW's charges under NEW's keys and
-- takes OLD's away under OLD's keys, so the totals match SUM(charged_*) over `jobs`.
CREATE FUNCTION jobs_use_add(job jobs) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO guild_day_use VALUES (
        job.guild_id, job.created_at / 86400, job.charged_micro_usd, job.charged_images
    )
    ON CONFLICT (guild_id, day) DO UPDATE SET
        micro_usd = guild_day_use.micro_usd + excluded.micro_usd,
        images = guild_day_use.images + excluded.images;
    INSERT INTO member_day_use VALUES (
        job.guild_id, job.user_id, job.created_at / 86400, job.charged_micro_usd,
        job.charged_images
    )
    ON CONFLICT (guild_id, user_id, day) DO UPDATE SET
        micro_usd = member_day_use.micro_usd + excluded.micro_usd,
        images = member_day_use.images + excluded.images;
END;
$$;

CREATE FUNCTION jobs_use_remove(job jobs) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE guild_day_use
    SET micro_usd = micro_usd - job.charged_micro_usd, images = images - job.charged_images
    WHERE guild_id = job.guild_id AND day = job.created_at / 86400;
    UPDATE member_day_use
    SET micro_usd = micro_usd - job.charged_micro_usd, images = images - job.charged_images
    WHERE guild_id = job.guild_id AND user_id = job.user_id AND day = job.created_at / 86400;
END;
$$;

CREATE FUNCTION jobs_queued_add(job jobs, delta BIGINT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF job.state <> 'queued' THEN
        RETURN;
    END IF;
    IF delta > 0 THEN
        INSERT INTO member_queued VALUES (job.guild_id, job.user_id, delta)
        ON CONFLICT (guild_id, user_id) DO UPDATE SET queued = member_queued.queued + delta;
    ELSE
        UPDATE member_queued SET queued = queued + delta
        WHERE guild_id = job.guild_id AND user_id = job.user_id;
    END IF;
END;
$$;

CREATE FUNCTION jobs_use_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jobs_use_add(NEW);
    PERFORM jobs_queued_add(NEW, 1);
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_use_on_insert AFTER INSERT ON jobs
FOR EACH ROW EXECUTE FUNCTION jobs_use_on_insert();

-- Settlement and cancellation change the charges; nothing changes a job's guild, member or
-- creation time, but should anything do so the totals still move from OLD's key to NEW's.
CREATE FUNCTION jobs_use_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jobs_use_remove(OLD);
    PERFORM jobs_use_add(NEW);
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_use_on_update
AFTER UPDATE OF charged_micro_usd, charged_images, guild_id, user_id, created_at ON jobs
FOR EACH ROW EXECUTE FUNCTION jobs_use_on_update();

CREATE FUNCTION jobs_queued_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jobs_queued_add(OLD, -1);
    PERFORM jobs_queued_add(NEW, 1);
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_queued_on_update AFTER UPDATE OF state, guild_id, user_id ON jobs
FOR EACH ROW WHEN (OLD.state = 'queued' OR NEW.state = 'queued')
EXECUTE FUNCTION jobs_queued_on_update();

CREATE FUNCTION jobs_use_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jobs_use_remove(OLD);
    PERFORM jobs_queued_add(OLD, -1);
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_use_on_delete AFTER DELETE ON jobs
FOR EACH ROW EXECUTE FUNCTION jobs_use_on_delete();
