-- Migration: 0002 (PostgreSQL; SQLite's is ../0002_usage_daily_rollup.sql, which explains it)
-- Reason: /usage reads per-day, per-model totals (of a guild, and of one member) from rollups
-- that a trigger keeps, so a month of a busy guild is about a hundred rows instead of every
-- ledger row. The ledger is append-only (rows are inserted, never updated or deleted), so an
-- insert trigger suffices.

CREATE TABLE api_calls_daily (
    guild_id        BIGINT NOT NULL,
    day             BIGINT NOT NULL,   -- created_at / 86400: the UTC day number
    model           TEXT    NOT NULL,
    requests        BIGINT NOT NULL,
    images          BIGINT NOT NULL,
    cost_micro_usd  BIGINT NOT NULL,
    input_tokens    BIGINT NOT NULL,
    output_tokens   BIGINT NOT NULL,
    PRIMARY KEY (guild_id, day, model)
);

INSERT INTO api_calls_daily
SELECT guild_id, created_at / 86400, model, COUNT(*), SUM(images), SUM(cost_micro_usd),
       SUM(text_input_tokens + image_input_tokens), SUM(image_output_tokens + text_output_tokens)
FROM api_calls
GROUP BY guild_id, created_at / 86400, model;

CREATE TABLE api_calls_member_daily (
    guild_id        BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    day             BIGINT NOT NULL,
    model           TEXT    NOT NULL,
    requests        BIGINT NOT NULL,
    images          BIGINT NOT NULL,
    cost_micro_usd  BIGINT NOT NULL,
    input_tokens    BIGINT NOT NULL,
    output_tokens   BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id, day, model)
);

INSERT INTO api_calls_member_daily
SELECT guild_id, user_id, created_at / 86400, model, COUNT(*), SUM(images), SUM(cost_micro_usd),
       SUM(text_input_tokens + image_input_tokens), SUM(image_output_tokens + text_output_tokens)
FROM api_calls
GROUP BY guild_id, user_id, created_at / 86400, model;

CREATE OR REPLACE FUNCTION api_calls_daily_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO api_calls_daily (
        guild_id, day, model, requests, images, cost_micro_usd, input_tokens, output_tokens
    ) VALUES (
        NEW.guild_id, NEW.created_at / 86400, NEW.model, 1, NEW.images, NEW.cost_micro_usd,
        NEW.text_input_tokens + NEW.image_input_tokens,
        NEW.image_output_tokens + NEW.text_output_tokens
    )
    ON CONFLICT (guild_id, day, model) DO UPDATE SET
        requests = api_calls_daily.requests + 1,
        images = api_calls_daily.images + excluded.images,
        cost_micro_usd = api_calls_daily.cost_micro_usd + excluded.cost_micro_usd,
        input_tokens = api_calls_daily.input_tokens + excluded.input_tokens,
        output_tokens = api_calls_daily.output_tokens + excluded.output_tokens;
    INSERT INTO api_calls_member_daily (
        guild_id, user_id, day, model, requests, images, cost_micro_usd, input_tokens,
        output_tokens
    ) VALUES (
        NEW.guild_id, NEW.user_id, NEW.created_at / 86400, NEW.model, 1, NEW.images,
        NEW.cost_micro_usd, NEW.text_input_tokens + NEW.image_input_tokens,
        NEW.image_output_tokens + NEW.text_output_tokens
    )
    ON CONFLICT (guild_id, user_id, day, model) DO UPDATE SET
        requests = api_calls_member_daily.requests + 1,
        images = api_calls_member_daily.images + excluded.images,
        cost_micro_usd = api_calls_member_daily.cost_micro_usd + excluded.cost_micro_usd,
        input_tokens = api_calls_member_daily.input_tokens + excluded.input_tokens,
        output_tokens = api_calls_member_daily.output_tokens + excluded.output_tokens;
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_calls_daily_on_insert AFTER INSERT ON api_calls
FOR EACH ROW EXECUTE FUNCTION api_calls_daily_on_insert();
