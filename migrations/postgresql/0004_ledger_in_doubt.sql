-- Migration: 0004 (PostgreSQL; SQLite's is ../0004_ledger_in_doubt.sql, which explains it)
-- Reason: each ledger row says how its cost is known. 'actual': from the response's `usage`
-- (or 0 for a call the provider answered with an error: not billed). 'estimated': the provider
-- answered without `usage` (some gateways), so the call is charged its upper-bound estimate.
-- 'in_doubt': the request went out and the answer was lost (read timeout, dropped connection, a
-- gateway's 502/504/524 page, an unreadable body), so it may have been billed and its estimate
-- stays charged. /usage and the CSV show the last two apart, from the rollups below.

ALTER TABLE api_calls ADD COLUMN billing TEXT NOT NULL DEFAULT 'actual'
    CHECK (billing IN ('actual', 'estimated', 'in_doubt'));

-- Before this migration an in-doubt call was a row with an error and a cost (its estimate).
UPDATE api_calls SET billing = 'in_doubt' WHERE error_code IS NOT NULL AND cost_micro_usd > 0;

ALTER TABLE api_calls_daily ADD COLUMN in_doubt_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_calls_daily ADD COLUMN in_doubt_micro_usd BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_calls_daily ADD COLUMN estimated_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_calls_daily ADD COLUMN estimated_micro_usd BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_calls_member_daily ADD COLUMN in_doubt_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_calls_member_daily ADD COLUMN in_doubt_micro_usd BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_calls_member_daily ADD COLUMN estimated_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_calls_member_daily ADD COLUMN estimated_micro_usd BIGINT NOT NULL DEFAULT 0;

UPDATE api_calls_daily SET
    in_doubt_requests = (
        SELECT COUNT(*) FROM api_calls c
        WHERE c.guild_id = api_calls_daily.guild_id AND c.created_at / 86400 = api_calls_daily.day
          AND c.model = api_calls_daily.model AND c.billing = 'in_doubt'),
    in_doubt_micro_usd = (
        SELECT COALESCE(SUM(cost_micro_usd), 0) FROM api_calls c
        WHERE c.guild_id = api_calls_daily.guild_id AND c.created_at / 86400 = api_calls_daily.day
          AND c.model = api_calls_daily.model AND c.billing = 'in_doubt');

UPDATE api_calls_member_daily SET
    in_doubt_requests = (
        SELECT COUNT(*) FROM api_calls c
        WHERE c.guild_id = api_calls_member_daily.guild_id
          AND c.user_id = api_calls_member_daily.user_id
          AND c.created_at / 86400 = api_calls_member_daily.day
          AND c.model = api_calls_member_daily.model AND c.billing = 'in_doubt'),
    in_doubt_micro_usd = (
        SELECT COALESCE(SUM(cost_micro_usd), 0) FROM api_calls c
        WHERE c.guild_id = api_calls_member_daily.guild_id
          AND c.user_id = api_calls_member_daily.user_id
          AND c.created_at / 86400 = api_calls_member_daily.day
          AND c.model = api_calls_member_daily.model AND c.billing = 'in_doubt');

-- The trigger of 0002 stays; its function is replaced.
CREATE OR REPLACE FUNCTION api_calls_daily_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO api_calls_daily (
        guild_id, day, model, requests, images, cost_micro_usd, input_tokens, output_tokens,
        in_doubt_requests, in_doubt_micro_usd, estimated_requests, estimated_micro_usd
    ) VALUES (
        NEW.guild_id, NEW.created_at / 86400, NEW.model, 1, NEW.images, NEW.cost_micro_usd,
        NEW.text_input_tokens + NEW.image_input_tokens,
        NEW.image_output_tokens + NEW.text_output_tokens,
        (NEW.billing = 'in_doubt')::int, (NEW.billing = 'in_doubt')::int * NEW.cost_micro_usd,
        (NEW.billing = 'estimated')::int, (NEW.billing = 'estimated')::int * NEW.cost_micro_usd
    )
    ON CONFLICT (guild_id, day, model) DO UPDATE SET
        requests = api_calls_daily.requests + 1,
        images = api_calls_daily.images + excluded.images,
        cost_micro_usd = api_calls_daily.cost_micro_usd + excluded.cost_micro_usd,
        input_tokens = api_calls_daily.input_tokens + excluded.input_tokens,
        output_tokens = api_calls_daily.output_tokens + excluded.output_tokens,
        in_doubt_requests = api_calls_daily.in_doubt_requests + excluded.in_doubt_requests,
        in_doubt_micro_usd = api_calls_daily.in_doubt_micro_usd + excluded.in_doubt_micro_usd,
        estimated_requests = api_calls_daily.estimated_requests + excluded.estimated_requests,
        estimated_micro_usd = api_calls_daily.estimated_micro_usd + excluded.estimated_micro_usd;
    INSERT INTO api_calls_member_daily (
        guild_id, user_id, day, model, requests, images, cost_micro_usd, input_tokens,
        output_tokens, in_doubt_requests, in_doubt_micro_usd, estimated_requests,
        estimated_micro_usd
    ) VALUES (
        NEW.guild_id, NEW.user_id, NEW.created_at / 86400, NEW.model, 1, NEW.images,
        NEW.cost_micro_usd, NEW.text_input_tokens + NEW.image_input_tokens,
        NEW.image_output_tokens + NEW.text_output_tokens,
        (NEW.billing = 'in_doubt')::int, (NEW.billing = 'in_doubt')::int * NEW.cost_micro_usd,
        (NEW.billing = 'estimated')::int, (NEW.billing = 'estimated')::int * NEW.cost_micro_usd
    )
    ON CONFLICT (guild_id, user_id, day, model) DO UPDATE SET
        requests = api_calls_member_daily.requests + 1,
        images = api_calls_member_daily.images + excluded.images,
        cost_micro_usd = api_calls_member_daily.cost_micro_usd + excluded.cost_micro_usd,
        input_tokens = api_calls_member_daily.input_tokens + excluded.input_tokens,
        output_tokens = api_calls_member_daily.output_tokens + excluded.output_tokens,
        in_doubt_requests = api_calls_member_daily.in_doubt_requests + excluded.in_doubt_requests,
        in_doubt_micro_usd = api_calls_member_daily.in_doubt_micro_usd + excluded.in_doubt_micro_usd,
        estimated_requests = api_calls_member_daily.estimated_requests + excluded.estimated_requests,
        estimated_micro_usd = api_calls_member_daily.estimated_micro_usd + excluded.estimated_micro_usd;
    RETURN NULL;
END;
$$;

