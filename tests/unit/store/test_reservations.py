"""The one-statement reservation admits exactly when every limit holds, and writes nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.catalog.pricing import CostEstimate
from bot.clock import day_start, month_start
from bot.db import Database, open_database
from bot.domain import ImageOptions, TokenUsage
from bot.errors import QueueFullError, QuotaExceededError
from bot.guild_settings import GuildLimits
from bot.jobs.admit.limits import MemberLimits, check_reservation
from bot.store import jobs as store
from bot.store.endings import EndState, JobEnding, end_job
from bot.store.ledger import ApiCall
from bot.store.reservations import Caps, reserve_job
from tests.pg import reset

NOW = datetime(2026, 3, 20, 15, 30, tzinfo=UTC)
# (member, days before NOW, micro-USD, images, still queued)
prior = st.lists(
    st.tuples(st.integers(1, 2), st.integers(0, 40), st.sampled_from([0, 100, 200]),
              st.integers(0, 3),
              st.booleans()),
    max_size=12,
)  # fmt: skip
# Few distinct values, so that a use plus a request often lands exactly on a limit.
usd_cap = st.sampled_from([0, 0, 0, 100, 200, 300, 500, 600])
count_cap = st.sampled_from([0, 0, 0, 1, 2, 3, 5])
NO_CAPS = Caps(0, 0, 0, 0, 0, 0, 0)
any_caps = st.builds(Caps, usd_cap, usd_cap, count_cap, count_cap, usd_cap, count_cap, count_cap)


def new_job(user: int, created: datetime, usd: int, images: int) -> store.NewJob:
    return store.NewJob(
        guild_id=1, channel_id=5, user_id=user, operation="generate", prompt="p",
        options=ImageOptions(model="gpt-image-1", n=max(images, 1)), reserved_micro_usd=usd,
        reserved_images=images, estimated_tokens=100, source_job_id=None, created_at=created,
    )  # fmt: skip


async def scenario(
    path: Path | str, jobs: list[tuple[int, int, int, int, bool]], caps: Caps, usd: int, images: int
) -> None:
    day, month = day_start(NOW), month_start(NOW)
    async with open_database(path) as db:
        async with db.transaction() as conn:
            for user, back, j_usd, j_images, queued in jobs:
                job = await store.insert_job(
                    conn, new_job(user, NOW - timedelta(days=back), j_usd, j_images)
                )
                if not queued:
                    await store.mark_running(conn, job.id, NOW)
        use = await store.budget_use(db, 1, 1, day, month, account=True)
        limits = MemberLimits(
            GuildLimits(caps.guild_day_micro_usd, caps.guild_month_micro_usd,
                        caps.guild_day_images),
            caps.user_day_images, caps.user_day_micro_usd, caps.member_queue, caps.guild_queue,
        )  # fmt: skip
        try:
            check_reservation(use, limits, CostEstimate(usd, images, 50, 50), NOW)
            fits = True
        except (QueueFullError, QuotaExceededError):
            fits = False
        got = await reserve_job(
            db, new_job(1, NOW, usd, images), caps, store.ts(day), store.ts(month)
        )
        assert (got is not None) == fits, (use, caps, usd, images)
        rows = await db.fetchall("SELECT id FROM jobs")
        assert len(rows) == len(jobs) + fits  # a refusal writes nothing
        if got is not None:
            assert (got.state, got.charged_micro_usd, got.charged_images) == ("queued", usd, images)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prior, any_caps, st.sampled_from([0, 100, 200, 300]), st.integers(0, 4))
def test_reserve_admits_exactly_when_check_reservation_passes(
    db_target: Path | str,
    jobs: list[tuple[int, int, int, int, bool]],
    caps: Caps,
    usd: int,
    images: int,
) -> None:
    reset(db_target)  # hypothesis runs every example on the same database
    asyncio.run(scenario(db_target, jobs, caps, usd, images))


async def test_the_reserved_record_is_the_row_as_stored(db_target: Path | str) -> None:
    """Admission uses the record without reading it back: it must equal the stored row."""
    day, month = day_start(NOW), month_start(NOW)
    created = NOW.replace(microsecond=654321)  # the database keeps whole seconds
    job = replace(
        new_job(1, created, 300, 2), operation="edit", source_job_id=None, style="Noir",
        speed="relaxed", style_text="film noir, {prompt}",
        options=ImageOptions(model="gpt-image-1", n=2, size="1024x1536", quality="high",
                             background="transparent", output_format="webp"),
    )  # fmt: skip
    async with open_database(db_target) as db:
        first = await reserve_job(
            db, new_job(1, NOW, 0, 1), NO_CAPS, store.ts(day), store.ts(month)
        )
        assert first is not None
        async with db.transaction() as conn:  # as a job with input files is reserved
            got = await reserve_job(conn, replace(job, source_job_id=first.id),
                                    NO_CAPS, store.ts(day), store.ts(month))  # fmt: skip
        assert got is not None and got.source_job_id == 1
        assert got == await store.get_job(db, got.id)


# (guild, days before NOW, micro-USD) of other jobs, in any guild
elsewhere = st.lists(
    st.tuples(st.integers(1, 3), st.integers(0, 40), st.sampled_from([0, 100, 200])), max_size=12
)


async def account_scenario(
    path: Path, jobs: list[tuple[int, int, int]], day_cap: int, month_cap: int, usd: int
) -> None:
    day, month = day_start(NOW), month_start(NOW)
    async with open_database(path) as db:
        async with db.transaction() as conn:
            for guild, back, j_usd in jobs:
                old = replace(new_job(2, NOW - timedelta(days=back), j_usd, 1), guild_id=guild)
                await store.insert_job(conn, old)
        caps = replace(NO_CAPS, account_day_micro_usd=day_cap, account_month_micro_usd=month_cap)
        got = await reserve_job(db, new_job(1, NOW, usd, 1), caps, store.ts(day), store.ts(month))
        today = sum(u for _, back, u in jobs if NOW - timedelta(days=back) >= day)
        this_month = sum(u for _, back, u in jobs if NOW - timedelta(days=back) >= month)
        fits = (not day_cap or today + usd <= day_cap) and (
            not month_cap or this_month + usd <= month_cap
        )
        assert (got is not None) == fits, (jobs, day_cap, month_cap, usd)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(elsewhere, usd_cap, st.sampled_from([0, 300, 600, 900]), st.sampled_from([100, 200, 300]))
def test_the_account_ceiling_counts_every_guild(
    tmp_path: Path, jobs: list[tuple[int, int, int]], day_cap: int, month_cap: int, usd: int
) -> None:
    """ACCOUNT_DAILY_USD and ACCOUNT_MONTHLY_USD sum the charges of every guild."""
    path = tmp_path / "bot.sqlite3"
    path.unlink(missing_ok=True)
    asyncio.run(account_scenario(path, jobs, day_cap, month_cap, usd))


# Several processes admitting at once: each Database is its own connection (SQLite) or pool
# (PostgreSQL), as separate bot processes would hold.
PROCESSES, ATTEMPTS, GUILDS = 4, 60, 3
STRESS_CAPS = Caps(10_000, 0, 0, 0, 0, 0, 0)  # each guild: $0.01 a day, at 300 µUSD a job


async def admit(db: Database, guild: int, user: int) -> bool:
    """Half reserve in one trip (as /imagine does), half in a transaction (as a job with input
    files does): both must take the same turns."""
    day, month = store.ts(day_start(NOW)), store.ts(month_start(NOW))
    job = replace(new_job(user, NOW, 300, 1), guild_id=guild)
    if user % 2:
        async with db.transaction() as conn:
            return await reserve_job(conn, job, STRESS_CAPS, day, month) is not None
    return await reserve_job(db, job, STRESS_CAPS, day, month) is not None


async def test_concurrent_admissions_across_connections_never_overshoot(
    db_target: Path | str,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(open_database(db_target)) for _ in range(PROCESSES)]
        admitted = await asyncio.gather(*(
            admit(db, guild, user)
            for user in range(ATTEMPTS) for db in dbs for guild in range(1, GUILDS + 1)
        ))  # fmt: skip
        spent = await dbs[0].fetchall(
            "SELECT guild_id, SUM(charged_micro_usd), COUNT(*) FROM jobs GROUP BY guild_id"
        )
    # 33 jobs of 300 fit in 10,000 (9,900); the 34th would overshoot, in every guild.
    assert sorted(tuple(row) for row in spent) == [(g, 9_900, 33) for g in range(1, GUILDS + 1)]
    assert sum(admitted) == 33 * GUILDS


ACCOUNT_CAPS = replace(STRESS_CAPS, guild_day_micro_usd=0, account_day_micro_usd=10_000)


async def test_concurrent_admissions_in_several_guilds_never_overshoot_the_account(
    db_target: Path | str,
) -> None:
    """ACCOUNT_DAILY_USD sums every guild, so guilds' admissions must take turns too (on
    PostgreSQL a per-guild lock alone let 10,200 of 10,000 through)."""
    day, month = day_start(NOW), month_start(NOW)

    async def admit_anywhere(db: Database, guild: int, user: int) -> bool:
        job = replace(new_job(user, NOW, 300, 1), guild_id=guild)
        got = await reserve_job(db, job, ACCOUNT_CAPS, store.ts(day), store.ts(month))
        return got is not None

    async with contextlib.AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(open_database(db_target)) for _ in range(PROCESSES)]
        await asyncio.gather(*(
            admit_anywhere(db, guild, user)
            for user in range(20) for db in dbs for guild in range(1, 7)
        ))  # fmt: skip
        [row] = await dbs[0].fetchall("SELECT SUM(charged_micro_usd), COUNT(*) FROM jobs")
    assert tuple(row) == (9_900, 33)  # 33 jobs of 300 fit in 10,000, across six guilds


# Admissions AND settlements across processes: jobs end at their estimate or below it, fail or
# are cancelled (releasing their reservation) while other processes admit. spent + reserved is
# what the counters hold (a queued or running job counts its reservation, an ended one its
# cost), so at no observed moment may a guild's counter pass its cap.
SETTLE_CAP, ESTIMATE, ROUNDS = 6_000, 300, 30
OUTCOMES = ("at", "below", "below", "failed", "cancelled")


def _settlement(job_id: int, guild: int, user: int, outcome: str, rng: random.Random) -> JobEnding:
    if outcome == "cancelled":
        return JobEnding(job_id, "cancelled", 0, 0, "actual", NOW, expected=("queued",))
    cost = {"at": ESTIMATE, "below": rng.choice([100, 200]), "failed": 0}[outcome]
    call = ApiCall(guild_id=guild, channel_id=5, user_id=user, job_id=job_id, model="gpt-image-1",
                   operation="generate", n=1, size="1024x1024", quality="low", usage=TokenUsage(),
                   cost_micro_usd=cost, price_version="test", latency_ms=10, created_at=NOW,
                   images=int(cost > 0), http_status=None if cost else 500)  # fmt: skip
    state: EndState = "failed" if outcome == "failed" else "succeeded"
    return JobEnding(job_id, state, cost, int(cost > 0), "actual", NOW, calls=(call,))


async def admit_and_settle(db: Database, guild: int, user: int, seed: int) -> int:
    """ROUNDS admissions by one member; each admitted job ends at once. Returns the refusals."""
    rng, refused = random.Random(seed), 0
    day, month = day_start(NOW), month_start(NOW)
    caps = replace(NO_CAPS, guild_day_micro_usd=SETTLE_CAP)
    for _ in range(ROUNDS):
        job = replace(new_job(user, NOW, ESTIMATE, 1), guild_id=guild)
        got = await reserve_job(db, job, caps, store.ts(day), store.ts(month))
        if got is None:
            refused += 1
            continue
        outcome = rng.choice(OUTCOMES)
        if outcome != "cancelled":
            async with db.transaction() as conn:
                assert await store.mark_running(conn, got.id, NOW)
        async with db.transaction() as conn:
            assert await end_job(conn, _settlement(got.id, guild, user, outcome, rng))
    return refused


async def watch_counters(db: Database, done: asyncio.Event) -> int:
    """The highest spent + reserved any guild's counter showed while the others worked."""
    highest = 0
    while not done.is_set():
        rows = await db.fetchall("SELECT MAX(micro_usd) FROM guild_day_use")
        highest = max(highest, rows[0][0] or 0)
    return highest


async def test_concurrent_admissions_and_settlements_never_overshoot(
    db_target: Path | str,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(open_database(db_target)) for _ in range(PROCESSES)]
        watcher = await stack.enter_async_context(open_database(db_target))
        done = asyncio.Event()
        watching = asyncio.create_task(watch_counters(watcher, done))
        refusals = await asyncio.gather(*(
            admit_and_settle(db, guild, user, seed=guild * 1000 + user * 10 + i)
            for i, db in enumerate(dbs) for guild in range(1, GUILDS + 1) for user in range(3)
        ))  # fmt: skip
        done.set()
        highest = await watching
        counters = await dbs[0].fetchall(
            "SELECT guild_id, micro_usd FROM guild_day_use ORDER BY guild_id"
        )
        ledger = await dbs[0].fetchall(
            "SELECT guild_id, SUM(cost_micro_usd) FROM api_calls GROUP BY guild_id ORDER BY 1"
        )
        left = await dbs[0].fetchall(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        )
    assert highest <= SETTLE_CAP, f"spent + reserved reached {highest} of {SETTLE_CAP}"
    assert sum(refusals) > 0, "the cap must have been reached for the test to mean anything"
    assert left[0][0] == 0
    # Every reservation settled: the counters hold exactly what the ledger charged.
    assert [tuple(row) for row in counters] == [tuple(row) for row in ledger]
    assert all(spent <= SETTLE_CAP for _, spent in counters)
