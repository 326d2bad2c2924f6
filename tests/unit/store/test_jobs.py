"""The budget counters kept by triggers (migration 0007) always equal a recount of the jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.clock import day_start, month_start
from bot.db import Database, open_database
from bot.domain import ImageOptions
from bot.records import JobState
from bot.store import jobs as store
from bot.store.endings import set_running_charge
from tests.pg import reset

MONTH = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 20, 15, 30, tzinfo=UTC)

# (operation, job pick, guild, member, days before NOW, micro-USD, images)
Op = tuple[str, int, int, int, int, int, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(["admit", "admit", "start", "charge", "requeue", "settle", "cancel"]),
        st.integers(0, 50),
        st.integers(1, 2),
        st.integers(1, 3),
        st.integers(0, 40),  # up to 40 days back: the month boundary and the month before
        st.integers(0, 500_000),
        st.integers(0, 4),
    ),
    max_size=40,
)


async def recount(db: Database, guild: int, user: int) -> store.BudgetUse:
    """The budget use recounted from every job row, as admission computed it before 0007."""
    day, month = store.ts(day_start(NOW)), store.ts(month_start(NOW))
    row = await db.fetchone(
        "SELECT"
        " COALESCE(SUM(CASE WHEN created_at >= :day THEN charged_micro_usd END), 0),"
        " COALESCE(SUM(CASE WHEN created_at >= :month THEN charged_micro_usd END), 0),"
        " COALESCE(SUM(CASE WHEN created_at >= :day THEN charged_images END), 0),"
        " COALESCE(SUM(CASE WHEN created_at >= :day AND user_id = :user"
        "              THEN charged_micro_usd END), 0),"
        " COALESCE(SUM(CASE WHEN created_at >= :day AND user_id = :user"
        "              THEN charged_images END), 0),"
        " COUNT(CASE WHEN state = 'queued' THEN 1 END),"
        " COUNT(CASE WHEN state = 'queued' AND user_id = :user THEN 1 END)"
        " FROM jobs WHERE guild_id = :guild",
        {"guild": guild, "user": user, "day": day, "month": month},
    )
    assert row is not None
    account = await db.fetchone(
        "SELECT COALESCE(SUM(CASE WHEN created_at >= :day THEN charged_micro_usd END), 0),"
        " COALESCE(SUM(CASE WHEN created_at >= :month THEN charged_micro_usd END), 0) FROM jobs",
        {"day": day, "month": month},
    )  # every guild's together: the account's ceilings
    assert account is not None
    return store.BudgetUse(*row, *account)


async def apply(db: Database, op: Op) -> None:
    kind, pick, guild, user, days_back, usd, images = op
    rows = await db.fetchall("SELECT id, state FROM jobs ORDER BY id")
    job = rows[pick % len(rows)] if rows else None
    async with db.transaction() as conn:
        if kind == "admit" or job is None:
            created = NOW - timedelta(days=days_back, minutes=pick)
            new = store.NewJob(
                guild_id=guild, channel_id=5, user_id=user, operation="generate", prompt="p",
                options=ImageOptions(model="gpt-image-1", n=max(images, 1)),
                reserved_micro_usd=usd, reserved_images=images, estimated_tokens=100,
                source_job_id=None, created_at=created,
            )  # fmt: skip
            await store.insert_job(conn, new)
        elif kind == "start":
            await store.mark_running(conn, job["id"], NOW)
        elif kind == "charge":
            await set_running_charge(conn, job["id"], usd)
        elif kind == "requeue":
            await store.requeue(conn, job["id"])
        else:
            final: JobState = "cancelled" if kind == "cancel" else "succeeded"
            # The columns an ending changes, written directly: this runs on databases from
            # before migration 0008 too (end_job, bot/store/endings.py, also sets `billing`).
            await conn.execute(
                "UPDATE jobs SET state = ?, charged_micro_usd = ?, charged_images = ?,"
                " finished_at = ? WHERE id = ? AND state IN ('queued', 'running')",
                (final, 0 if kind == "cancel" else usd, 0 if kind == "cancel" else images,
                 store.ts(NOW), job["id"]),
            )  # fmt: skip


async def scenario(path: Path | str, operations: list[Op]) -> None:
    async with open_database(path) as db:
        for op in operations:
            await apply(db, op)
            for guild in (1, 2):
                for user in (1, 2, 3):
                    counted = await store.budget_use(
                        db, guild, user, day_start(NOW), month_start(NOW), account=True
                    )
                    assert counted == await recount(db, guild, user), op


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops)
def test_counters_equal_a_full_recount_after_any_admissions_settlements_and_cancels(
    db_target: Path | str, operations: list[Op]
) -> None:
    reset(db_target)  # hypothesis runs every example on the same database
    asyncio.run(scenario(db_target, operations))


def test_jobs_from_before_the_migration_are_counted(
    tmp_path: Path, empty_db_target: Path | str
) -> None:
    """Upgrading a database that already holds jobs: the counters start from its totals."""
    migrations = Path(__file__).resolve().parents[3] / "migrations"
    before = tmp_path / "before"
    (before / "postgresql").mkdir(parents=True)
    for folder in (".", "postgresql"):
        for sql in sorted((migrations / folder).glob("*.sql")):
            if sql.name < "0007":
                (before / folder / sql.name).write_text(sql.read_text())
    asyncio.run(upgrade(empty_db_target, before))


async def upgrade(path: Path | str, before: Path) -> None:
    async with open_database(path, before) as db:
        for op in [("admit", 0, 1, 1, 0, 1000, 1), ("admit", 0, 1, 2, 3, 700, 2)]:
            await apply(db, op)
        await apply(db, ("settle", 1, 1, 1, 0, 400, 1))
    async with open_database(path) as db:
        used = await store.budget_use(db, 1, 1, day_start(NOW), month_start(NOW), account=True)
        assert used == await recount(db, 1, 1)
        assert (used.guild_month_micro_usd, used.user_day_micro_usd, used.guild_queued) == (
            1000 + 400,
            1000,
            1,
        )
