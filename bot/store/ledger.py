"""The API-call ledger: one row per Images API call, whatever its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.db import Reader, Row, Transaction
from bot.domain import TokenUsage
from bot.records import Billing as Billing  # how a row's cost is known (migration 0004)


@dataclass(frozen=True, slots=True)
class ApiCall:
    """What one Images API call did and cost."""

    guild_id: int
    channel_id: int
    user_id: int
    job_id: int | None
    model: str
    operation: str
    n: int
    size: str
    quality: str
    usage: TokenUsage
    cost_micro_usd: int
    price_version: str
    latency_ms: int
    created_at: datetime
    images: int = 0
    partial_images: int = 0
    request_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    speed: str = "fast"  # "relaxed": a Batch API line, priced at the catalog's batch prices
    fast_cost_micro_usd: int | None = None  # relaxed rows: the same usage at the fast price
    billing: Billing = "actual"


@dataclass(frozen=True, slots=True)
class HiddenUsage:
    """Calls since a day that came back without `usage` (charged at the estimate), of all."""

    calls: int
    requests: int


_INSERT = """
INSERT INTO api_calls (
    guild_id, channel_id, user_id, job_id, model, operation, n, images, size, quality,
    text_input_tokens, cached_text_input_tokens, image_input_tokens, cached_image_input_tokens,
    image_output_tokens, text_output_tokens, partial_images, cost_micro_usd, price_version,
    request_id, http_status, error_code, latency_ms, created_at, speed, fast_cost_micro_usd,
    billing
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id
"""
# From the rollups of migrations 0002 and 0004: a few rows per guild and day, not the ledger.
_HIDDEN_USAGE = """
SELECT COALESCE(SUM(estimated_requests), 0), COALESCE(SUM(requests), 0)
FROM api_calls_daily WHERE day >= ?
"""


async def insert_api_call(conn: Transaction, call: ApiCall) -> int:
    """Insert a ledger row inside the caller's transaction; returns its id."""
    u = call.usage
    params = (
        call.guild_id,
        call.channel_id,
        call.user_id,
        call.job_id,
        call.model,
        call.operation,
        call.n,
        call.images,
        call.size,
        call.quality,
        u.text_input,
        u.cached_text_input,
        u.image_input,
        u.cached_image_input,
        u.image_output,
        u.text_output,
        call.partial_images,
        call.cost_micro_usd,
        call.price_version,
        call.request_id,
        call.http_status,
        call.error_code,
        call.latency_ms,
        int(call.created_at.timestamp()),
        call.speed,
        call.fast_cost_micro_usd,
        call.billing,
    )
    row = await conn.fetchone(_INSERT, params)
    assert row is not None  # RETURNING yields the inserted row
    return int(row[0])


@dataclass(frozen=True, slots=True)
class SentRequest:
    """A fast request the provider may count against the account's per-minute limits: when it
    went out (its row's time less its latency), its images and its tokens."""

    sent_at: datetime
    images: int
    tokens: int


# A 429 made no image; a row without a status never reached the provider, unless its answer
# was lost on the way back (in doubt), which the provider may have counted.
_SENT_SINCE = """
SELECT created_at * 1000 - latency_ms AS sent_ms, n,
       text_input_tokens + cached_text_input_tokens + image_input_tokens
       + cached_image_input_tokens + image_output_tokens + text_output_tokens AS tokens
FROM api_calls
WHERE speed = 'fast' AND created_at >= ?
  AND ((http_status IS NOT NULL AND http_status != 429) OR billing = 'in_doubt')
ORDER BY sent_ms
"""


async def fast_requests_since(db: Reader, since: datetime) -> list[SentRequest]:
    """Fast requests recorded from `since` on, in the order they went out (a restarted
    pacer's last minute, bot/jobs/order/pacing.py `Pacer.restore`)."""
    rows = await db.fetchall(_SENT_SINCE, (int(since.timestamp()),))
    return [
        SentRequest(datetime.fromtimestamp(row[0] / 1000, UTC), int(row[1]), int(row[2]))
        for row in rows
    ]


async def calls_for_job(db: Reader, job_id: int) -> list[ApiCall]:
    """Every ledger row of one job, oldest first."""
    rows = await db.fetchall("SELECT * FROM api_calls WHERE job_id = ? ORDER BY id", (job_id,))
    return [_row_to_call(row) for row in rows]


def _row_to_call(row: Row) -> ApiCall:
    return ApiCall(
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        job_id=row["job_id"],
        model=row["model"],
        operation=row["operation"],
        n=row["n"],
        images=row["images"],
        size=row["size"],
        quality=row["quality"],
        usage=TokenUsage(
            text_input=row["text_input_tokens"],
            cached_text_input=row["cached_text_input_tokens"],
            image_input=row["image_input_tokens"],
            cached_image_input=row["cached_image_input_tokens"],
            image_output=row["image_output_tokens"],
            text_output=row["text_output_tokens"],
        ),
        partial_images=row["partial_images"],
        cost_micro_usd=row["cost_micro_usd"],
        price_version=row["price_version"],
        request_id=row["request_id"],
        http_status=row["http_status"],
        error_code=row["error_code"],
        latency_ms=row["latency_ms"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        speed=row["speed"],
        fast_cost_micro_usd=row["fast_cost_micro_usd"],
        billing=row["billing"],
    )


async def hidden_usage_since(db: Reader, since: datetime) -> HiddenUsage:
    """How many calls of every guild since the UTC day of `since` came without `usage`."""
    day = int(since.timestamp()) // 86_400
    row = await db.fetchone(_HIDDEN_USAGE, (day,))
    return HiddenUsage(int(row[0]), int(row[1])) if row else HiddenUsage(0, 0)
