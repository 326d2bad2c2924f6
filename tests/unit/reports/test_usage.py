"""/usage core: periods, money formatting, report figures, budget and export against real SQLite."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.db import (
    DEFAULT_MIGRATIONS_DIR,
    Database,
    SqliteDatabase,
    Transaction,
    connect,
    migrate,
    open_database,
)
from bot.domain import TokenUsage
from bot.errors import InvalidOptionError
from bot.reports.usage import (
    BudgetLimits,
    UsageService,
    format_images,
    period_bounds,
)
from bot.store import usage as usage_store
from bot.store.ledger import ApiCall, Billing, insert_api_call
from bot.store.usage import DailyUsage, ModelUsage, UserUsage

GUILD, OTHER_GUILD = 100, 200
ALICE, BOB, CAROL = 1, 2, 3
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class Call:
    user: int
    model: str
    when: datetime
    images: int = 0
    cost: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    status: int | None = 200
    error: str | None = None
    guild: int = GUILD
    billing: Billing = "actual"


# The scripted ledger: several members, models and days, a refusal, two kinds of failure, rows on
# the edges of the windows, and another guild's row that must never count.
CALLS = (
    Call(
        ALICE, "gpt-image-1", at(3, 15, 10), 2, 84_000, TokenUsage(text_input=50, image_output=2112)
    ),
    Call(
        BOB,
        "gpt-image-2",
        at(3, 15, 11),
        1,
        40_000,
        TokenUsage(
            text_input=30,
            image_input=500,
            cached_image_input=100,
            image_output=1056,
            text_output=20,
        ),
    ),
    Call(BOB, "gpt-image-2", at(3, 15, 11, 30), status=502),  # failure without an error code
    Call(ALICE, "gpt-image-2", at(3, 14, 9), status=400, error="moderation_blocked"),  # refusal
    Call(CAROL, "gpt-image-1-mini", at(3, 10, 8), status=500, error="server_error"),  # failure
    Call(BOB, "gpt-image-1", at(3, 1), 4, 200_000, TokenUsage(text_input=40, image_output=4224)),
    Call(CAROL, "gpt-image-2", at(2, 28, 23, 59, 59), 1, 11_000, TokenUsage(10, image_output=272)),
    Call(ALICE, "gpt-image-1", at(2, 14), 1, 20_000, TokenUsage(10, image_output=272)),  # 30d edge
    Call(ALICE, "gpt-image-1", at(2, 13, 23, 59, 59), 1, 30_000),  # just before the 30 days
    Call(ALICE, "gpt-image-1", at(3, 15, 9), 3, 999_000, guild=OTHER_GUILD),
)


@pytest.fixture
async def conn(db_target: Path | str) -> AsyncIterator[Database]:
    """The ledger's database, on SQLite and on PostgreSQL."""
    async with open_database(db_target) as db:
        yield db


async def add_calls(db: Database, calls: tuple[Call, ...] = CALLS) -> None:
    async with db.transaction() as conn:
        for call in calls:
            await _add_call(conn, call)


async def _add_call(conn: Transaction, call: Call) -> None:
    await insert_api_call(
        conn,
        ApiCall(
            guild_id=call.guild,
            channel_id=10,
            user_id=call.user,
            job_id=None,
            model=call.model,
            operation="generate",
            n=max(call.images, 1),
            size="1024x1024",
            quality="medium",
            usage=call.usage,
            cost_micro_usd=call.cost,
            price_version="2026-03-01",
            latency_ms=12_000,
            created_at=call.when,
            images=call.images,
            request_id=f"req_{call.when:%d%H%M%S}",
            http_status=call.status,
            error_code=call.error,
            billing=call.billing,
        ),
    )


async def add_job(
    db: Database,
    user: int,
    when: datetime,
    state: str,
    usd: int,
    images: int,
    guild: int = GUILD,
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO jobs (guild_id, channel_id, user_id, operation, prompt, options_json,"
            " state, charged_micro_usd, charged_images, estimated_micro_usd, estimated_tokens,"
            " created_at) VALUES (?, 10, ?, 'generate', 'a fox', '{}', ?, ?, ?, ?, 0, ?)",
            (guild, user, state, usd, images, usd, int(when.timestamp())),
        )


@pytest.fixture
async def ledger(conn: Database) -> Database:
    await add_calls(conn)
    await add_job(conn, ALICE, at(3, 15, 10), "succeeded", 84_000, 2)
    await add_job(conn, BOB, at(3, 15, 11), "queued", 170_000, 1)  # a reservation
    await add_job(conn, CAROL, at(3, 15, 9), "failed", 0, 0)  # released
    await add_job(conn, ALICE, at(3, 14), "running", 50_000, 1)
    await add_job(conn, BOB, at(3, 1), "succeeded", 200_000, 4)
    await add_job(conn, CAROL, at(2, 28, 23, 59, 59), "succeeded", 11_000, 1)  # last month
    await add_job(conn, ALICE, at(3, 15, 9), "queued", 999_000, 9, guild=OTHER_GUILD)
    return conn


def service(conn: Database, now: datetime = NOW) -> UsageService:
    return UsageService(conn, ManualClock(start=now))


# ---- periods and money ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("today", NOW, at(3, 15), at(3, 16)),
        ("7d", NOW, at(3, 9), at(3, 16)),
        ("30d", NOW, at(2, 14), at(3, 16)),
        ("month", NOW, at(3, 1), at(3, 16)),
        ("all", NOW, None, at(3, 16)),
        ("today", at(3, 1), at(3, 1), at(3, 2)),  # exactly midnight on the 1st
        ("month", at(3, 1), at(3, 1), at(3, 2)),
        ("7d", at(3, 1), at(2, 23), at(3, 2)),
        ("month", at(2, 28, 23, 59, 59), at(2, 1), at(3, 1)),
        ("30d", at(3, 1, 0, 0, 1), at(1, 31), at(3, 2)),
        # 01:30 at UTC+2 is still the 28th in UTC
        (
            "today",
            datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
            at(2, 28),
            at(3, 1),
        ),
    ],
    ids=lambda v: str(v),
)
def test_periods_are_whole_utc_days(
    period: str, now: datetime, start: datetime | None, end: datetime
) -> None:
    assert period_bounds(period, now) == (start, end)


def test_an_unknown_period_is_refused_by_name() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        period_bounds("week", NOW)
    assert caught.value.option == "period"


# ---- the report -------------------------------------------------------------------------------


async def test_thirty_day_report_matches_the_scripted_ledger(ledger: Database) -> None:
    overview = await service(ledger).overview(GUILD, "30d", limits=BudgetLimits())
    report = overview.report
    t = report.totals
    assert (t.requests, t.images, t.spend_micro_usd) == (8, 9, 355_000)
    assert (t.input_tokens, t.output_tokens) == (640, 7956)
    assert (t.failures, t.refusals) == (2, 1)
    assert report.by_model == (
        ModelUsage("gpt-image-1", requests=3, images=7, spend_micro_usd=304_000),
        ModelUsage("gpt-image-2", requests=4, images=2, spend_micro_usd=51_000),
        ModelUsage("gpt-image-1-mini", requests=1, images=0, spend_micro_usd=0),
    )
    assert report.top_users == (
        UserUsage(BOB, requests=3, images=5, spend_micro_usd=240_000),
        UserUsage(ALICE, requests=3, images=3, spend_micro_usd=104_000),
        UserUsage(CAROL, requests=2, images=1, spend_micro_usd=11_000),
    )


async def test_daily_series_covers_every_day_with_zeros(ledger: Database) -> None:
    report = (await service(ledger).overview(GUILD, "30d", limits=BudgetLimits())).report
    days = {d.day: d for d in report.daily}
    assert len(report.daily) == 30
    assert [d.day for d in report.daily] == [date(2026, 2, 14) + timedelta(n) for n in range(30)]
    assert days[date(2026, 2, 14)] == DailyUsage(date(2026, 2, 14), 20_000, 1, 1)
    assert days[date(2026, 2, 28)] == DailyUsage(date(2026, 2, 28), 11_000, 1, 1)
    assert days[date(2026, 3, 1)] == DailyUsage(date(2026, 3, 1), 200_000, 4, 1)
    assert days[date(2026, 3, 10)] == DailyUsage(date(2026, 3, 10), 0, 0, 1)
    assert days[date(2026, 3, 15)] == DailyUsage(date(2026, 3, 15), 124_000, 3, 3)
    assert days[date(2026, 3, 5)] == DailyUsage(date(2026, 3, 5), 0, 0, 0)
    assert sum(d.spend_micro_usd for d in report.daily) == report.totals.spend_micro_usd


@pytest.mark.parametrize(
    ("period", "requests", "spend", "days"),
    [("today", 3, 124_000, 1), ("7d", 5, 124_000, 7), ("month", 6, 324_000, 15)],
)
async def test_each_period_counts_only_its_days(
    ledger: Database, period: str, requests: int, spend: int, days: int
) -> None:
    report = (await service(ledger).overview(GUILD, period, limits=BudgetLimits())).report
    assert report.totals.requests == requests
    assert report.totals.spend_micro_usd == spend
    assert len(report.daily) == days


async def test_all_time_starts_on_the_first_day_with_a_row(ledger: Database) -> None:
    report = (await service(ledger).overview(GUILD, "all", limits=BudgetLimits())).report
    assert report.totals.requests == 9
    assert report.totals.spend_micro_usd == 385_000
    assert report.daily[0].day == date(2026, 2, 13)
    assert report.daily[-1].day == date(2026, 3, 15)
    assert len(report.daily) == 31


async def test_all_time_of_an_empty_guild_is_today_with_zeros(
    conn: Database,
) -> None:
    report = (await service(conn).overview(GUILD, "all", limits=BudgetLimits())).report
    assert report.totals.requests == 0
    assert report.by_model == ()
    assert report.top_users == ()
    assert report.daily == (DailyUsage(date(2026, 3, 15), 0, 0, 0),)


async def test_one_member_report(ledger: Database) -> None:
    overview = await service(ledger).overview(GUILD, "30d", limits=BudgetLimits(), user_id=ALICE)
    report = overview.report
    t = report.totals
    assert (t.requests, t.images, t.spend_micro_usd, t.refusals, t.failures) == (
        3,
        3,
        104_000,
        1,
        0,
    )
    assert report.by_model == (
        ModelUsage("gpt-image-1", requests=2, images=3, spend_micro_usd=104_000),
        ModelUsage("gpt-image-2", requests=1, images=0, spend_micro_usd=0),
    )
    assert report.top_users == (UserUsage(ALICE, 3, 3, 104_000),)
    assert sum(d.spend_micro_usd for d in report.daily) == 104_000
    assert len(report.daily) == 30


async def test_a_member_without_calls_has_an_empty_report(ledger: Database) -> None:
    overview = await service(ledger).overview(GUILD, "today", limits=BudgetLimits(), user_id=CAROL)
    assert overview.report.totals.requests == 0
    assert overview.report.top_users == ()
    assert overview.report.daily == (DailyUsage(date(2026, 3, 15), 0, 0, 0),)


async def test_reports_take_whole_days_only(ledger: Database) -> None:
    with pytest.raises(ValueError, match="whole UTC days"):
        await usage_store.report(ledger, GUILD, start=at(3, 1, 6), end=at(3, 16))


# ---- budget -----------------------------------------------------------------------------------


async def test_budget_counts_jobs_of_today_and_this_month(ledger: Database) -> None:
    limits = BudgetLimits(daily_micro_usd=1_000_000, monthly_micro_usd=500_000, daily_images=50)
    budget = (await service(ledger).overview(GUILD, "today", limits=limits)).budget
    # today: the settled job, the queued reservation and the released (0) job
    assert (budget.daily_usd.used, budget.daily_usd.left) == (254_000, 746_000)
    assert (budget.daily_images.used, budget.daily_images.left) == (3, 47)
    # the month adds the running job and the 1st's; last month's job is not counted
    assert (budget.monthly_usd.used, budget.monthly_usd.left) == (504_000, 0)
    assert (budget.monthly_images.used, budget.monthly_images.left) == (8, None)
    assert budget.daily_usd.resets_at == at(3, 16)
    assert budget.monthly_usd.resets_at == at(4, 1)


async def test_budget_without_limits_has_nothing_left_to_show(
    ledger: Database,
) -> None:
    budget = (await service(ledger).overview(GUILD, "30d", limits=BudgetLimits())).budget
    assert budget.daily_usd.left is None
    assert budget.monthly_usd.left is None
    assert budget.daily_images.left is None


async def test_budget_of_one_member(ledger: Database) -> None:
    limits = BudgetLimits(daily_micro_usd=200_000, daily_images=2)
    overview = await service(ledger).overview(GUILD, "30d", limits=limits, user_id=BOB)
    budget = overview.budget
    assert (budget.daily_usd.used, budget.daily_usd.left) == (170_000, 30_000)
    assert (budget.daily_images.used, budget.daily_images.left) == (1, 1)
    assert (budget.monthly_usd.used, budget.monthly_images.used) == (370_000, 5)


async def test_budget_resets_at_the_new_year(conn: Database) -> None:
    budget = (
        await service(conn, now=datetime(2026, 12, 31, 23, 0, tzinfo=UTC)).overview(
            GUILD, "month", limits=BudgetLimits()
        )
    ).budget
    assert budget.monthly_usd.resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert budget.daily_usd.resets_at == datetime(2027, 1, 1, tzinfo=UTC)


# ---- export and chart through the service -----------------------------------------------------


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


async def test_csv_rows_sum_to_the_reported_spend(ledger: Database) -> None:
    usage = service(ledger)
    overview = await usage.overview(GUILD, "30d", limits=BudgetLimits())
    export = await usage.export(overview, limit_bytes=MIB)
    rows = read_csv(export.data)
    assert export.filename == "usage-100-30d-20260315.csv"
    assert export.mime == "text/csv"
    assert len(rows) == export.rows == overview.report.totals.requests
    assert sum(int(r["cost_micro_usd"]) for r in rows) == overview.report.totals.spend_micro_usd
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.355")
    assert sum(int(r["images"]) for r in rows) == overview.report.totals.images
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    assert rows[0]["created_at"] == "2026-02-14T00:00:00Z"
    assert {r["guild_id"] for r in rows} == {str(GUILD)}


async def test_member_export_holds_only_their_rows(ledger: Database) -> None:
    usage = service(ledger)
    overview = await usage.overview(GUILD, "month", limits=BudgetLimits(), user_id=BOB)
    export = await usage.export(overview, limit_bytes=MIB)
    rows = read_csv(export.data)
    assert export.filename == "usage-100-2-month-20260315.csv"
    assert {r["user_id"] for r in rows} == {str(BOB)}
    assert sum(int(r["cost_micro_usd"]) for r in rows) == 240_000


async def test_export_too_large_even_zipped_is_refused(ledger: Database) -> None:
    usage = service(ledger)
    overview = await usage.overview(GUILD, "all", limits=BudgetLimits())
    with pytest.raises(InvalidOptionError):
        await usage.export(overview, limit_bytes=100)


async def test_export_pages_through_rows_of_the_same_second(conn: Database) -> None:
    same_second = tuple(Call(n % 3 + 1, "gpt-image-1", at(3, 2, 8), 1, 1_000 + n) for n in range(7))
    later = tuple(Call(ALICE, "gpt-image-2", at(3, 2, 8, 0, s), 1, 5) for s in (1, 2))
    await add_calls(conn, same_second + later)
    db = conn
    chunks = [
        chunk
        async for chunk in usage_store.export_rows(
            db, GUILD, start=at(3, 2), end=at(3, 3), chunk_rows=3
        )
    ]
    assert [len(c) for c in chunks] == [3, 3, 3]
    ids = [row.id for chunk in chunks for row in chunk]
    assert ids == sorted(ids) and len(set(ids)) == 9
    alice = usage_store.export_rows(
        db, GUILD, start=None, end=at(3, 3), user_id=ALICE, chunk_rows=2
    )
    assert [r.cost_micro_usd async for chunk in alice for r in chunk] == [1_000, 1_003, 1_006, 5, 5]


async def test_chart_of_the_overview_is_a_png(ledger: Database) -> None:
    usage = service(ledger)
    overview = await usage.overview(GUILD, "30d", limits=BudgetLimits())
    png = await usage.chart(overview)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert overview.title == "Spend and images per day, the last 30 days"
    assert overview.summary == "Total $0.355 · 9 images · 8 requests"


async def test_guild_reports_read_only_the_covering_indexes(tmp_path: Path) -> None:
    # The p95 target of /usage depends on these plans (see benchmarks/usage_stats.py); SQLite's
    # planner, so SQLite only.
    from bot.store import usage as store_module

    window = store_module._Window(GUILD, None, 0, 86_400 * 30)
    plans = {}
    for name, query in [
        ("day_model", store_module._Q_DAY_MODEL),
        ("top_users", store_module._Q_TOP_USERS),
        ("failed", store_module._Q_FAILED),
    ]:
        sql, params = window.bind(query, 10) if name == "top_users" else window.bind(query)
        async with open_database(tmp_path / "bot.sqlite3") as db:
            await add_calls(db)
            rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
        plans[name] = " / ".join(str(row[3]) for row in rows)
    assert "api_calls_daily USING PRIMARY KEY" in plans["day_model"]
    assert "COVERING INDEX api_calls_guild_day_user_idx" in plans["top_users"]
    assert "api_calls_guild_failed_idx" in plans["failed"]


async def test_in_doubt_and_estimated_spend_are_reported_apart(
    ledger: Database,
) -> None:
    lost = Call(
        BOB,
        "gpt-image-2",
        at(3, 15, 12),
        0,
        250_000,
        status=504,
        error="gateway_504",
        billing="in_doubt",
    )
    no_usage = Call(ALICE, "gpt-image-2", at(3, 15, 13), 1, 170_000, billing="estimated")
    await add_calls(ledger, (lost, no_usage))
    usage = service(ledger)
    for user, doubt, estimated in ((None, 250_000, 170_000), (BOB, 250_000, 0)):
        overview = await usage.overview(GUILD, "today", limits=BudgetLimits(), user_id=user)
        t = overview.report.totals
        assert (t.in_doubt_requests, t.in_doubt_micro_usd) == (1 if doubt else 0, doubt)
        assert (t.estimated_requests, t.estimated_micro_usd) == (1 if estimated else 0, estimated)
    overview = await usage.overview(GUILD, "today", limits=BudgetLimits())
    t = overview.report.totals
    assert t.spend_micro_usd == 84_000 + 40_000 + 250_000 + 170_000  # both count in spend
    assert overview.summary.endswith("· $0.25 in doubt · $0.17 estimated")
    rows = read_csv((await usage.export(overview, limit_bytes=MIB)).data)
    marks = {r["request_id"]: (r["billing"], int(r["cost_micro_usd"])) for r in rows}
    assert marks["req_15120000"] == ("in_doubt", 250_000)
    assert marks["req_15130000"] == ("estimated", 170_000)
    assert marks["req_15100000"] == ("actual", 84_000)


async def test_migration_0004_marks_old_in_doubt_rows_and_their_rollups(tmp_path: Path) -> None:
    connection = await connect(tmp_path / "old.sqlite3")
    try:
        await connection.execute("PRAGMA user_version = 0")
        migrations = tmp_path / "migrations"
        migrations.mkdir()
        for path in sorted(DEFAULT_MIGRATIONS_DIR.glob("*.sql"))[:3]:  # up to 0003
            (migrations / path.name).write_text(path.read_text())
        await migrate(connection, migrations)
        await connection.execute(
            "INSERT INTO api_calls (guild_id, channel_id, user_id, model, operation, n, size,"
            " quality, cost_micro_usd, price_version, error_code, latency_ms, created_at)"
            " VALUES (1, 1, 1, 'gpt-image-2', 'generate', 1, 'auto', 'auto', 53000, 'v',"
            " 'interrupted', 0, ?)",
            (int(at(3, 15, 10).timestamp()),),
        )
        await migrate(connection)
        async with connection.execute("SELECT billing FROM api_calls") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["in_doubt"]
        report = await usage_store.report(
            SqliteDatabase(connection), 1, start=at(3, 15), end=at(3, 16)
        )
        assert (report.totals.in_doubt_requests, report.totals.in_doubt_micro_usd) == (1, 53_000)
    finally:
        await connection.close()


def test_image_counts_read_as_english() -> None:
    """/quota and /usage budget lines: never "1 images"."""
    assert [format_images(n) for n in (0, 1, 2, 1234)] == [
        "0 images", "1 image", "2 images", "1,234 images",
    ]  # fmt: skip
