"""Usage reports over the API-call ledger and budget use from the jobs table (SQL only here).

Definitions (the figures /usage shows), over the half-open window start <= created_at < end:

- requests: API calls, i.e. rows in `api_calls`, whatever their outcome;
- images: sum of `images` (images the API returned);
- spend: sum of `cost_micro_usd` (real cost from the response's usage);
- input tokens: text input + image input (cached tokens are part of those totals);
- output tokens: image output + text output;
- refusals: calls whose `error_code` is 'moderation_blocked';
- in doubt: calls whose answer was lost after they were sent (`billing` 'in_doubt'), and their
  estimated cost, which is part of spend (they may have been billed);
- estimated: calls the provider answered without `usage` (`billing` 'estimated'), and their
  cost, the upper-bound estimate, which is part of spend;
- list-priced: measured calls (`billing` 'actual') whose cost is the provider's published
  per-image price (`price_version` "<provider>: per-image price", bot/provider/costs.py): the
  provider reports no cost of its own; part of spend;
- failures: other calls with an `error_code`, or with `http_status` >= 400;
- by model: requests, images and spend per model, most spend first;
- top users: the members with the most spend (ties by id), at most `top_users` of them;
- daily: (UTC day, spend, images, requests) for every day of the window, missing days as zeros;
  for an open start (period 'all') the series starts on the day of the first row.

Budget use comes from `jobs`, not the ledger: the sum of `charged_micro_usd` and `charged_images`
of the jobs created in the day or month, in every state (a settled job's charge is its real
cost, a pending job's charge is its reservation, a released one is 0).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from bot.db import Reader

_EPOCH_DAY = date(1970, 1, 1)
_DAY = 86_400  # seconds
_MIN_TS = -(2**62)  # the open start of period 'all'
EXPORT_CHUNK_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """The period's totals; see the module docstring for each figure's definition."""

    requests: int
    images: int
    spend_micro_usd: int
    input_tokens: int
    output_tokens: int
    failures: int
    refusals: int
    in_doubt_requests: int = 0
    in_doubt_micro_usd: int = 0
    estimated_requests: int = 0
    estimated_micro_usd: int = 0


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One model's share of the period."""

    model: str
    requests: int
    images: int
    spend_micro_usd: int


@dataclass(frozen=True, slots=True)
class UserUsage:
    """One member's share of the period."""

    user_id: int
    requests: int
    images: int
    spend_micro_usd: int


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """One UTC day of the period."""

    day: date
    spend_micro_usd: int
    images: int
    requests: int = 0


@dataclass(frozen=True, slots=True)
class RelaxedUsage:
    """The period's relaxed-speed calls (Batch API lines): the rest of the totals are fast.

    `fast_price_micro_usd` is what the same usage would have cost at the fast price, so the
    saving is `fast_price_micro_usd - spend_micro_usd`.
    """

    requests: int = 0
    images: int = 0
    spend_micro_usd: int = 0
    fast_price_micro_usd: int = 0

    @property
    def saving_micro_usd(self) -> int:
        return self.fast_price_micro_usd - self.spend_micro_usd


@dataclass(frozen=True, slots=True)
class ListPriced:
    """The period's calls priced from the provider's per-image list (it reports no cost)."""

    requests: int = 0
    micro_usd: int = 0


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Everything /usage shows from the ledger for one guild (or one member) and window."""

    guild_id: int
    user_id: int | None
    start: datetime | None
    end: datetime
    totals: UsageTotals
    by_model: tuple[ModelUsage, ...]
    top_users: tuple[UserUsage, ...]
    daily: tuple[DailyUsage, ...]
    relaxed: RelaxedUsage = RelaxedUsage()
    list_priced: ListPriced = ListPriced()


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """What the jobs created today and this month count against the budgets."""

    day_micro_usd: int
    day_images: int
    month_micro_usd: int
    month_images: int


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One `api_calls` row as exported; `created_at` is aware UTC."""

    id: int
    created_at: datetime
    guild_id: int
    channel_id: int
    user_id: int
    job_id: int | None
    model: str
    operation: str
    n: int
    images: int
    size: str
    quality: str
    text_input_tokens: int
    cached_text_input_tokens: int
    image_input_tokens: int
    cached_image_input_tokens: int
    image_output_tokens: int
    text_output_tokens: int
    partial_images: int
    cost_micro_usd: int
    price_version: str
    request_id: str | None
    http_status: int | None
    error_code: str | None
    latency_ms: int
    speed: str = "fast"
    fast_cost_micro_usd: int | None = None
    billing: str = "actual"


# Each query exists in two scopes, the guild and one member of it, so that SQLite picks the
# matching index; the scope placeholder is replaced once, here, never with values. The guild's
# aggregates filter on the day number `created_at / 86400`, which is what lets them use the
# day-keyed covering indexes of migration 0001 (the report's bounds are whole UTC days).
_SCOPE = "/*scope*/"
_GUILD_DAYS = "guild_id = ? AND created_at / 86400 >= ? AND created_at / 86400 < ?"
_GUILD_TIMES = "guild_id = ? AND created_at >= ? AND created_at < ?"
_MEMBER_TIMES = "guild_id = ? AND user_id = ? AND created_at >= ? AND created_at < ?"

# The inner grouping follows the index order (no sort of every row); only the (day, member)
# groups are sorted to sum them per member.
_TOP_USERS = """
SELECT user_id, SUM(requests), SUM(images), SUM(spend) AS total
FROM (
    SELECT user_id, COUNT(*) AS requests, SUM(images) AS images, SUM(cost_micro_usd) AS spend
    FROM api_calls WHERE /*scope*/
    GROUP BY created_at / 86400, user_id
) AS per_day
GROUP BY user_id ORDER BY total DESC, user_id LIMIT ?
"""
# The last condition is the partial index's own WHERE, spelled the same so SQLite uses it.
_FAILED = """
SELECT COUNT(*), COALESCE(SUM(CASE WHEN error_code = 'moderation_blocked' THEN 1 ELSE 0 END), 0)
FROM api_calls WHERE /*scope*/ AND (error_code IS NOT NULL OR http_status >= 400)
"""
_EXPORT = """
SELECT id, created_at, guild_id, channel_id, user_id, job_id, model, operation, n, images,
       size, quality, text_input_tokens, cached_text_input_tokens, image_input_tokens,
       cached_image_input_tokens, image_output_tokens, text_output_tokens, partial_images,
       cost_micro_usd, price_version, request_id, http_status, error_code, latency_ms,
       speed, fast_cost_micro_usd, billing
FROM api_calls WHERE /*scope*/ AND (created_at, id) > (?, ?)
ORDER BY created_at, id LIMIT ?
"""
# The last condition is the partial index's own WHERE (migration 0006), so relaxed rows are read
# from that small index alone.
_RELAXED = """
SELECT COUNT(*), COALESCE(SUM(images), 0), COALESCE(SUM(cost_micro_usd), 0),
       COALESCE(SUM(fast_cost_micro_usd), 0)
FROM api_calls WHERE /*scope*/ AND speed = 'relaxed'
"""
# The basis bot/provider/costs.py writes for a per-image list price (PER_IMAGE_BASIS).
_LIST_PRICED = """
SELECT COUNT(*), COALESCE(SUM(cost_micro_usd), 0)
FROM api_calls WHERE /*scope*/ AND billing = 'actual' AND price_version LIKE '%: per-image price'
"""
_BUDGET_GUILD = """
SELECT COALESCE(SUM(CASE WHEN created_at >= ? THEN charged_micro_usd END), 0),
       COALESCE(SUM(CASE WHEN created_at >= ? THEN charged_images END), 0),
       COALESCE(SUM(charged_micro_usd), 0),
       COALESCE(SUM(charged_images), 0)
FROM jobs WHERE guild_id = ? AND created_at >= ? AND created_at < ?
"""
_BUDGET_MEMBER = _BUDGET_GUILD.replace("guild_id = ?", "guild_id = ? AND user_id = ?")


@dataclass(frozen=True, slots=True)
class _Query:
    """A query in its guild and member forms; `by_day` if the guild form filters on days."""

    guild_sql: str
    member_sql: str
    by_day: bool

    @classmethod
    def scoped(cls, sql: str, *, by_day: bool) -> _Query:
        guild = sql.replace(_SCOPE, _GUILD_DAYS if by_day else _GUILD_TIMES)
        return cls(guild, sql.replace(_SCOPE, _MEMBER_TIMES), by_day)


# Daily figures come from the rollups that migration 0002's trigger keeps. The member form
# takes its window in seconds like every member query; whole days divide exactly.
_DAY_MODEL_ROLLUP = """
SELECT day, model, requests, cost_micro_usd, images, input_tokens, output_tokens,
       in_doubt_requests, in_doubt_micro_usd, estimated_requests, estimated_micro_usd
FROM api_calls_daily WHERE guild_id = ? AND day >= ? AND day < ?
"""
_DAY_MODEL_MEMBER_ROLLUP = """
SELECT day, model, requests, cost_micro_usd, images, input_tokens, output_tokens,
       in_doubt_requests, in_doubt_micro_usd, estimated_requests, estimated_micro_usd
FROM api_calls_member_daily
WHERE guild_id = ? AND user_id = ? AND day >= ? / 86400 AND day < ? / 86400
"""
_Q_DAY_MODEL = _Query(_DAY_MODEL_ROLLUP, _DAY_MODEL_MEMBER_ROLLUP, by_day=True)
_Q_TOP_USERS = _Query.scoped(_TOP_USERS, by_day=True)
_Q_FAILED = _Query.scoped(_FAILED, by_day=False)
_MEMBERS = "SELECT DISTINCT user_id FROM api_calls WHERE /*scope*/ ORDER BY user_id LIMIT ?"
_Q_EXPORT = _Query.scoped(_EXPORT, by_day=False)
_Q_MEMBERS = _Query.scoped(_MEMBERS, by_day=False)
_Q_RELAXED = _Query.scoped(_RELAXED, by_day=False)
_Q_LIST_PRICED = _Query.scoped(_LIST_PRICED, by_day=False)


@dataclass(frozen=True, slots=True)
class _Window:
    """Who and when, in unix seconds: [start_ts, end_ts)."""

    guild_id: int
    user_id: int | None
    start_ts: int
    end_ts: int

    def bind(self, query: _Query, *extra: int) -> tuple[str, tuple[int, ...]]:
        """The query's SQL for this scope and its parameters."""
        if self.user_id is not None:
            return query.member_sql, (
                self.guild_id,
                self.user_id,
                self.start_ts,
                self.end_ts,
                *extra,
            )
        if query.by_day:
            days = (self.start_ts // _DAY, self.end_ts // _DAY)
            return query.guild_sql, (self.guild_id, *days, *extra)
        return query.guild_sql, (self.guild_id, self.start_ts, self.end_ts, *extra)


def _ts(moment: datetime | None) -> int:
    """Unix seconds for a bound: a row at second s is at or after `moment` iff s >= ceil(t)."""
    return _MIN_TS if moment is None else math.ceil(moment.timestamp())


def _whole_days(start: datetime | None, end: datetime) -> tuple[int, int]:
    start_ts, end_ts = _ts(start), _ts(end)
    if (start is not None and start_ts % _DAY) or end_ts % _DAY:
        raise ValueError("usage reports cover whole UTC days: bounds must be 00:00 UTC")
    return start_ts, end_ts


async def report(
    db: Reader,
    guild_id: int,
    *,
    start: datetime | None,
    end: datetime,
    user_id: int | None = None,
    top_users: int = 10,
) -> UsageReport:
    """Totals, per model, top members and the zero-filled daily series of [start, end).

    `start` (None: from the first row) and `end` must be 00:00 UTC; raises ValueError if not.
    """
    window = _Window(guild_id, user_id, *_whole_days(start, end))
    day_model = await _all(db, *window.bind(_Q_DAY_MODEL))
    failed, refused = (await _all(db, *window.bind(_Q_FAILED)))[0]
    by_model, daily, totals = _fold(day_model, failures=failed - refused, refusals=refused)
    relaxed = RelaxedUsage(*(int(v) for v in (await _all(db, *window.bind(_Q_RELAXED)))[0]))
    listed = ListPriced(*(int(v) for v in (await _all(db, *window.bind(_Q_LIST_PRICED)))[0]))
    if user_id is None:
        rows = await _all(db, *window.bind(_Q_TOP_USERS, top_users))
        users = tuple(UserUsage(*(int(v) for v in row)) for row in rows)
    else:  # the member is their own only top user: no need to scan their rows again
        member = UserUsage(user_id, totals.requests, totals.images, totals.spend_micro_usd)
        users = (member,) if totals.requests and top_users > 0 else ()
    return UsageReport(
        guild_id=guild_id,
        user_id=user_id,
        start=start,
        end=end,
        totals=totals,
        by_model=by_model,
        top_users=users,
        daily=_fill_days(daily, start, end),
        relaxed=relaxed,
        list_priced=listed,
    )


async def budget_used(
    db: Reader,
    guild_id: int,
    *,
    day_start: datetime,
    month_start: datetime,
    end: datetime,
    user_id: int | None = None,
) -> BudgetUsage:
    """Charges of the jobs created in [day_start, end) and [month_start, end), all states.

    With `user_id`, only that member's jobs.
    """
    day = _ts(day_start)
    sql = _BUDGET_GUILD
    params: tuple[int, ...] = (day, day, guild_id)
    if user_id is not None:
        sql, params = _BUDGET_MEMBER, (*params, user_id)
    row = (await _all(db, sql, (*params, _ts(month_start), _ts(end))))[0]
    return BudgetUsage(*(int(v) for v in row))


async def export_rows(
    db: Reader,
    guild_id: int,
    *,
    start: datetime | None,
    end: datetime,
    user_id: int | None = None,
    chunk_rows: int = EXPORT_CHUNK_ROWS,
) -> AsyncIterator[list[LedgerRow]]:
    """The ledger rows of [start, end) in time order, in chunks of at most `chunk_rows`.

    Each chunk is its own statement (keyset pagination on (created_at, id)), so no read
    cursor stays open on the shared connection while the caller awaits.
    """
    after, end_ts = (_ts(start), 0), _ts(end)
    while True:
        # The index range restarts at the last second sent; the row-value test skips the
        # rows of that second already sent.
        window = _Window(guild_id, user_id, after[0], end_ts)
        rows = await _all(db, *window.bind(_Q_EXPORT, *after, chunk_rows))
        if rows:
            yield [_ledger_row(row) for row in rows]
            after = (int(rows[-1][1]), int(rows[-1][0]))
        if len(rows) < chunk_rows:
            return


async def member_ids(
    db: Reader, guild_id: int, *, start: datetime | None, end: datetime, most: int
) -> list[int]:
    """The members with ledger rows in [start, end), at most `most` of them."""
    window = _Window(guild_id, None, _ts(start), _ts(end))
    return [int(row[0]) for row in await _all(db, *window.bind(_Q_MEMBERS, most))]


async def _all(db: Reader, sql: str, params: tuple[int, ...]) -> list[Sequence[Any]]:
    # Rows of either backend read by position (bot.db.Row).
    return cast(list[Sequence[Any]], await db.fetchall(sql, params))


def _fold(
    rows: Sequence[Sequence[Any]], *, failures: int, refusals: int
) -> tuple[tuple[ModelUsage, ...], dict[int, DailyUsage], UsageTotals]:
    """Per-model figures, the days that have rows and the totals, from (day, model) groups."""
    models: dict[str, list[int]] = {}
    days: dict[int, list[int]] = {}
    tokens = [0, 0]
    apart = [0, 0, 0, 0]  # in-doubt requests and micro-USD, estimated requests and micro-USD
    for day, model, requests, spend, images, tokens_in, tokens_out, *marked in rows:
        apart = [a + int(m) for a, m in zip(apart, marked, strict=True)]
        for acc in (models.setdefault(model, [0, 0, 0]), days.setdefault(day, [0, 0, 0])):
            acc[0] += requests
            acc[1] += spend
            acc[2] += images
        tokens[0] += tokens_in
        tokens[1] += tokens_out
    by_model = sorted(
        (ModelUsage(m, requests=r, images=i, spend_micro_usd=s) for m, (r, s, i) in models.items()),
        key=lambda u: (-u.spend_micro_usd, u.model),
    )
    daily = {
        d: DailyUsage(_EPOCH_DAY + timedelta(days=d), s, i, r) for d, (r, s, i) in days.items()
    }
    totals = UsageTotals(
        requests=sum(u.requests for u in by_model),
        images=sum(u.images for u in by_model),
        spend_micro_usd=sum(u.spend_micro_usd for u in by_model),
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        failures=failures,
        refusals=refusals,
        in_doubt_requests=apart[0],
        in_doubt_micro_usd=apart[1],
        estimated_requests=apart[2],
        estimated_micro_usd=apart[3],
    )
    return tuple(by_model), daily, totals


def _ledger_row(row: Sequence[Any]) -> LedgerRow:
    values = list(row)
    values[1] = datetime.fromtimestamp(values[1], UTC)
    return LedgerRow(*values)


def _fill_days(
    found: dict[int, DailyUsage], start: datetime | None, end: datetime
) -> tuple[DailyUsage, ...]:
    """One entry per UTC day from the start's day (or the first row's) to the end's."""
    last = _ts(end) // _DAY - 1  # `end` is exclusive
    first = _ts(start) // _DAY if start is not None else min(found, default=last)
    return tuple(
        found.get(day) or DailyUsage(_EPOCH_DAY + timedelta(days=day), 0, 0, 0)
        for day in range(first, last + 1)
    )
