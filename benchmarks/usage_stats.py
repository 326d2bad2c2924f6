"""/usage performance: report queries, chart rendering and CSV export over a 1,000,000-row ledger.

Builds a temporary database (100 guilds, 5,000 members, 90 days, one job per API call; guild
and member activity skewed like real communities), then prints the p50 and p95 time of the
busiest guild's 30-day report (every query /usage runs, through aiosqlite), the chart's render
time, and the time and peak Python memory of a 100,000-row CSV export.

    .venv/bin/python -m benchmarks.usage_stats [--rows 1000000] [--runs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from bot.clock import day_start, month_start
from bot.db import Database, SqliteDatabase, connect, migrate
from bot.reports.charts import render_usage_chart
from bot.reports.export import ExportFile
from bot.reports.usage import export_ledger, period_bounds
from bot.store import usage as store

GUILDS = 100
MEMBERS = 5_000
DAYS = 90
NOW = datetime(2026, 3, 30, 18, 0, tzinfo=UTC)  # late in a month: the month-to-date is long
MODELS = (("gpt-image-1", 2), ("gpt-image-1-mini", 3), ("gpt-image-1.5", 2), ("gpt-image-2", 3))
EXPORT_ROWS = 100_000
EXPORT_LIMIT = 10 * 1024 * 1024  # Discord's default attachment limit
BATCH = 50_000


def _zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def _members_by_guild(rng: random.Random) -> list[list[int]]:
    """Every member belongs to one guild; busier guilds have more members."""
    guild_weights = _zipf_weights(GUILDS, 1.0)
    members: list[list[int]] = [[] for _ in range(GUILDS)]
    for user in range(MEMBERS):
        members[rng.choices(range(GUILDS), guild_weights)[0]].append(10_000 + user)
    for guild, users in enumerate(members):
        if not users:
            users.append(100_000 + guild)
    return members


def _rows(
    rng: random.Random, total: int
) -> Iterator[tuple[tuple[object, ...], tuple[object, ...]]]:
    """(job, api_call) pairs in time order, as the bot writes them."""
    end = int(NOW.timestamp())
    start = end - DAYS * 86_400
    times = sorted(rng.randrange(start, end) for _ in range(total))
    members = _members_by_guild(rng)
    guild_cum = list(itertools.accumulate(_zipf_weights(GUILDS, 1.0)))
    user_cum = [list(itertools.accumulate(_zipf_weights(len(m), 1.1))) for m in members]
    models = [name for name, _ in MODELS]
    model_cum = list(itertools.accumulate(weight for _, weight in MODELS))
    for row_id, created in enumerate(times, start=1):
        guild = rng.choices(range(GUILDS), cum_weights=guild_cum)[0]
        user = rng.choices(members[guild], cum_weights=user_cum[guild])[0]
        model = rng.choices(models, cum_weights=model_cum)[0]
        yield _pair(rng, row_id, created, 1_000 + guild, user, model)


def _pair(
    rng: random.Random, row_id: int, created: int, guild: int, user: int, model: str
) -> tuple[tuple[object, ...], tuple[object, ...]]:
    n = rng.choice((1, 1, 1, 2, 4))
    roll = rng.random()
    status, code = (200, None)
    if roll < 0.02:
        status, code = 400, "moderation_blocked"
    elif roll < 0.04:
        status, code = rng.choice(((500, "server_error"), (429, "rate_limit_exceeded")))
    ok = code is None
    images = n if ok else 0
    text_in = rng.randrange(20, 400)
    image_out = images * rng.choice((272, 1056, 4160))
    cost = (text_in * 5 + image_out * 40) if ok else 0
    channel = guild * 10 + rng.randrange(5)
    state = "succeeded" if ok else "failed"
    job = (
        row_id,
        guild,
        channel,
        user,
        "generate",
        "a prompt",
        "{}",
        state,
        cost,
        images,
        cost,
        image_out,
        created - 3,
    )
    call = (
        row_id,
        guild,
        channel,
        user,
        row_id,
        model,
        "generate",
        n,
        images,
        "1024x1024",
        "medium",
        text_in,
        0,
        0,
        0,
        image_out,
        0,
        0,
        cost,
        "2026-03-01",
        f"req_{row_id:x}",
        status,
        code,
        rng.randrange(8_000, 60_000),
        created,
    )
    return job, call


_JOB_SQL = """INSERT INTO jobs (id, guild_id, channel_id, user_id, operation, prompt, options_json,
    state, charged_micro_usd, charged_images, estimated_micro_usd, estimated_tokens, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_CALL_SQL = """INSERT INTO api_calls (id, guild_id, channel_id, user_id, job_id, model, operation,
    n, images, size, quality, text_input_tokens, cached_text_input_tokens, image_input_tokens,
    cached_image_input_tokens, image_output_tokens, text_output_tokens, partial_images,
    cost_micro_usd, price_version, request_id, http_status, error_code, latency_ms, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


async def _migrate(path: Path) -> None:
    conn = await connect(path)
    try:
        await migrate(conn)
    finally:
        await conn.close()


def build(path: Path, total: int) -> None:
    asyncio.run(_migrate(path))  # the real schema, indexes included
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    rng = random.Random(7)
    pairs = _rows(rng, total)
    while chunk := list(itertools.islice(pairs, BATCH)):
        db.execute("BEGIN")
        db.executemany(_JOB_SQL, [job for job, _ in chunk])
        db.executemany(_CALL_SQL, [call for _, call in chunk])
        db.execute("COMMIT")
    # A long-running bot checkpoints every 1000 pages; do the same before reading, so the
    # reads do not go through a WAL as large as the database.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


async def _timed(fn: Callable[[], Awaitable[object]], runs: int) -> tuple[list[float], float]:
    """Wall-clock samples in ms, and the median CPU time of the process (all threads) in ms.

    The CPU time does not count waiting for a core, so it shows the work itself on a busy box.
    """
    for _ in range(3):
        await fn()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        await fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, statistics.median(cpu)


def _p(timing: tuple[list[float], float]) -> str:
    wall, cpu = timing
    p95 = statistics.quantiles(wall, n=20)[18]
    return f"p50 {statistics.median(wall):6.1f} ms  p95 {p95:6.1f} ms  (CPU p50 {cpu:5.1f} ms)"


async def measure(path: Path, runs: int) -> None:
    conn = await connect(path)
    try:
        db = SqliteDatabase(conn)
        async with conn.execute(
            "SELECT guild_id, COUNT(*) FROM api_calls GROUP BY guild_id ORDER BY 2 DESC LIMIT 1"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        guild, guild_rows = row
        await _reports(db, guild, guild_rows, runs)
        await _chart(db, guild)
        await _export(conn, db, guild, min(EXPORT_ROWS, guild_rows))
    finally:
        await conn.close()


async def _reports(db: Database, guild: int, guild_rows: int, runs: int) -> None:
    start, end = period_bounds("30d", NOW)
    report = await store.report(db, guild, start=start, end=end)
    top = report.top_users[0]
    print(
        f"busiest guild: {guild_rows:,} rows in {DAYS} days, {report.totals.requests:,} in 30 "
        f"days; its top member: {top.requests:,} in 30 days"
    )

    def usage(user_id: int | None) -> Callable[[], Awaitable[object]]:
        async def run() -> None:
            await store.report(db, guild, start=start, end=end, user_id=user_id)
            await budget(user_id)()

        return run

    def budget(user_id: int | None) -> Callable[[], Awaitable[object]]:
        return lambda: store.budget_used(
            db,
            guild,
            day_start=day_start(NOW),
            month_start=month_start(NOW),
            end=end,
            user_id=user_id,
        )

    print(f"30-day /usage, whole guild:   {_p(await _timed(usage(None), runs))}")
    print(f"  of which budget (jobs):     {_p(await _timed(budget(None), runs))}")
    print(f"30-day /usage, top member:    {_p(await _timed(usage(top.user_id), runs))}")


async def _chart(db: Database, guild: int) -> None:
    start, end = period_bounds("30d", NOW)
    days = (await store.report(db, guild, start=start, end=end)).daily
    render_usage_chart(days, title="warm-up")
    samples = []
    for _ in range(10):
        t0 = time.perf_counter()
        await asyncio.to_thread(render_usage_chart, days, title="Spend and images per day")
        samples.append((time.perf_counter() - t0) * 1000)
    print(
        f"chart render (30 days, PNG):  p50 {statistics.median(samples):6.1f} ms  "
        f"max {max(samples):6.1f} ms"
    )


async def _export(conn: aiosqlite.Connection, db: Database, guild: int, rows: int) -> None:
    async with conn.execute(
        "SELECT created_at FROM api_calls WHERE guild_id = ? ORDER BY created_at, id "
        "LIMIT 1 OFFSET ?",
        (guild, rows - 1),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    end = datetime.fromtimestamp(row[0] + 1, UTC)

    async def run() -> ExportFile:
        return await export_ledger(db, guild, start=None, end=end, limit_bytes=EXPORT_LIMIT)

    t0 = time.perf_counter()
    export = await run()
    elapsed = time.perf_counter() - t0
    tracemalloc.start()
    await run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    kind = "zip" if export.compressed else "csv"
    print(
        f"CSV export: {export.rows:,} rows -> {len(export.data) / 1e6:.1f} MB {kind} "
        f"in {elapsed:.2f} s, peak Python memory {peak / 2**20:.1f} MiB (tracemalloc)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--db", type=Path, help="keep the database here (reused if it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "usage.sqlite3"
        if not path.exists():
            t0 = time.perf_counter()
            build(path, args.rows)
            print(
                f"built {args.rows:,} ledger rows and jobs in {time.perf_counter() - t0:.1f} s "
                f"({path.stat().st_size / 1e6:.0f} MB)"
            )
        asyncio.run(measure(path, args.runs))


if __name__ == "__main__":
    main()
