"""Admission: validation against the catalog and guild, upper-bound reservations, every limit."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.db import SqliteDatabase, connect, migrate
from bot.errors import (
    InvalidOptionError,
    ModelNotAllowedError,
    ModelRetiredError,
    QueueFullError,
    QuotaExceededError,
    UserFacingError,
)
from bot.guild_settings import GuildLimits
from tests.fakes.image_backend import FakeImageBackend
from tests.unit.jobs_harness import (
    START,
    Harness,
    harness,
    input_image,
    make_harness,
    submission,
)

pytestmark = pytest.mark.asyncio

TOMORROW = datetime(2026, 3, 11, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 4, 1, tzinfo=UTC)


async def job_count(h: Harness) -> int:
    row = await h.db.fetchone("SELECT COUNT(*) FROM jobs")
    assert row is not None
    return int(row[0])


async def test_a_job_reserves_its_upper_bound_with_the_guild_defaults(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        admitted = await h.service.submit(submission(n=2))
        job = await h.job(admitted.job.id)
        assert job.state == "queued"
        assert job.charged_micro_usd == admitted.estimate.micro_usd > 0
        assert job.charged_images == 2
        assert job.estimated_tokens == admitted.estimate.tokens
        assert (job.options.quality, job.options.size, job.options.model) == (
            "medium",
            "1024x1024",
            "gpt-image-1",
        )
        assert admitted.position == 1
        await h.drain()
        assert [(e.kind, e.position) for e in h.sink.events] == [("queued", 1)]


async def test_guild_defaults_and_previews_shape_the_request(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        plain = await h.service.submit(submission(user_id=1))
        await h.guilds.update_config(
            1, changed_by=9, default_quality="high", default_size="1536x1024", previews=True
        )
        single = await h.service.submit(submission(user_id=2))
        double = await h.service.submit(submission(user_id=3, n=2))
        assert (single.job.options.quality, single.job.options.size) == ("high", "1536x1024")
        assert single.job.options.partial_images == 2
        assert double.job.options.partial_images == 0  # the API streams single images only
        assert single.estimate.micro_usd > plain.estimate.micro_usd


def retired_clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 1, tzinfo=UTC))  # after gpt-image-1's shutdown


REFUSALS: list[tuple[str, dict[str, Any], type[UserFacingError], str | None]] = [
    ("unknown model", {"model": "dall-e-9"}, ModelNotAllowedError, None),
    ("empty prompt", {"prompt": "   "}, InvalidOptionError, "prompt"),
    ("long prompt", {"prompt": "x" * 4001}, InvalidOptionError, "prompt"),
    ("count over max_count", {"n": 5}, InvalidOptionError, "count"),
    ("count zero", {"n": 0}, InvalidOptionError, "count"),
    ("bad size", {"size": "999x999"}, InvalidOptionError, "size"),
    ("bad quality", {"quality": "ultra"}, InvalidOptionError, "quality"),
    ("bad format", {"output_format": "gif"}, InvalidOptionError, "format"),
    (
        "transparent jpeg",
        {"background": "transparent", "output_format": "jpeg"},
        InvalidOptionError,
        "background",
    ),
    (
        "transparent on a model that cannot",
        {"background": "transparent", "model": "gpt-image-2"},
        InvalidOptionError,
        "background",
    ),
    (
        "fidelity on a model that cannot",
        {"operation": "edit", "images": (input_image(),), "input_fidelity": "high",
         "model": "gpt-image-2"},
        InvalidOptionError,
        "fidelity",
    ),
    ("fidelity on a generation", {"input_fidelity": "high"}, InvalidOptionError, "fidelity"),
    ("edit without image", {"operation": "edit"}, InvalidOptionError, "image"),
    (
        "too many input images",
        {"operation": "edit", "images": tuple(input_image() for _ in range(17))},
        InvalidOptionError,
        "image",
    ),
    ("image on a generation", {"images": (input_image(),)}, InvalidOptionError, "image"),
    ("mask without edit", {"mask": input_image()}, InvalidOptionError, "mask"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "option"),
    [pytest.param(k, e, o, id=name) for name, k, e, o in REFUSALS],
)
async def test_invalid_requests_are_refused_naming_the_option(
    tmp_path: Path,
    db_target: Path | str,
    kwargs: dict[str, Any],
    error: type[UserFacingError],
    option: str | None,
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        with pytest.raises(error) as caught:
            await h.service.submit(submission(**kwargs))
        if option is not None:
            assert isinstance(caught.value, InvalidOptionError)
            assert caught.value.option == option
        assert await job_count(h) == 0


async def test_a_model_outside_the_guilds_list_is_refused_with_the_choices(
    tmp_path: Path,
    db_target: Path | str,
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        await h.guilds.update_config(1, changed_by=9, allowed_models="gpt-image-2,gpt-image-1-mini")
        with pytest.raises(ModelNotAllowedError) as caught:
            await h.service.submit(submission(model="gpt-image-1"))
        assert caught.value.allowed == ("gpt-image-2", "gpt-image-1-mini")
        await h.service.submit(submission(model="gpt-image-2"))


async def test_a_retired_model_is_refused_naming_its_replacement(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False, clock=retired_clock()) as h:
        with pytest.raises(ModelRetiredError) as caught:
            await h.service.submit(submission(model="gpt-image-1"))
        assert caught.value.replacement == "gpt-image-2"
        assert caught.value.shutdown == "2026-10-23"


async def test_counts_the_account_can_never_pace_are_refused(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False, ipm=3) as h:
        await h.guilds.update_limits(1, changed_by=9, max_count=0)
        with pytest.raises(InvalidOptionError) as caught:
            await h.service.submit(submission(n=4))
        assert caught.value.option == "count"
        await h.service.submit(submission(n=3))


async def test_a_request_above_the_token_limit_is_refused(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False, tpm=2000) as h:
        await h.service.submit(submission(quality="medium"))  # ~1,300 tokens
        with pytest.raises(InvalidOptionError) as caught:
            await h.service.submit(submission(user_id=11, quality="high"))  # ~4,400 tokens
        assert caught.value.option == "count"
        assert "2,000" in caught.value.reason


ONE_JOB = 43_565  # the estimate of one medium 1024x1024 gpt-image-1 image with the test prompt

QUOTAS: list[tuple[dict[str, int], str, str, datetime, bool]] = [
    ({"daily_micro_usd": 60_000}, "the server's daily budget", "usd", TOMORROW, False),
    (
        {"daily_micro_usd": 0, "monthly_micro_usd": 60_000},
        "the server's monthly budget",
        "usd",
        NEXT_MONTH,
        False,
    ),
    ({"daily_images": 1}, "the server's daily images", "images", TOMORROW, False),
    ({"user_daily_images": 1}, "your daily images", "images", TOMORROW, True),
    ({"user_daily_micro_usd": 60_000}, "your daily budget", "usd", TOMORROW, True),
]


@pytest.mark.parametrize(("limits", "name", "unit", "resets", "per_member"), QUOTAS)
async def test_each_limit_refuses_with_what_is_used_and_when_it_resets(
    tmp_path: Path,
    db_target: Path | str,
    limits: dict[str, int],
    name: str,
    unit: str,
    resets: datetime,
    per_member: bool,
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        await h.guilds.update_limits(1, changed_by=9, **limits)
        first = await h.service.submit(submission(user_id=10))
        assert first.estimate.micro_usd == ONE_JOB
        with pytest.raises(QuotaExceededError) as caught:
            await h.service.submit(submission(user_id=10))
        error = caught.value
        assert (error.limit, error.unit, error.resets_at) == (name, unit, resets)
        used, requested = (ONE_JOB, ONE_JOB) if unit == "usd" else (1, 1)
        assert (error.used, error.requested) == (used, requested)
        assert error.allowed == next(iter(v for v in limits.values() if v))
        if per_member:  # another member still has their own allowance
            await h.service.submit(submission(user_id=11))
        else:
            with pytest.raises(QuotaExceededError):
                await h.service.submit(submission(user_id=11))
        assert await job_count(h) == (2 if per_member else 1)


async def test_a_cancelled_reservation_frees_the_budget(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        await h.guilds.update_limits(1, changed_by=9, daily_micro_usd=60_000)
        first = await h.service.submit(submission())
        with pytest.raises(QuotaExceededError):
            await h.service.submit(submission())
        await h.service.cancel(first.job.id, guild_id=1, user_id=10, is_moderator=False)
        await h.service.submit(submission())


async def test_the_most_generous_role_override_applies(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False, member_queue_limit=0) as h:
        await h.guilds.update_limits(1, changed_by=9, user_daily_images=1)
        await h.guilds.set_role_quota(
            1, 500, changed_by=9, user_daily_images=3, user_daily_micro_usd=None
        )
        await h.guilds.set_role_quota(
            1, 501, changed_by=9, user_daily_images=2, user_daily_micro_usd=None
        )
        roles = (500, 501)
        for _ in range(3):
            await h.service.submit(submission(user_id=10, role_ids=roles))
        with pytest.raises(QuotaExceededError) as caught:
            await h.service.submit(submission(user_id=10, role_ids=roles))
        assert (caught.value.limit, caught.value.allowed) == ("your daily images", 3)
        await h.service.submit(submission(user_id=11))  # no role: the guild's limit of 1
        with pytest.raises(QuotaExceededError):
            await h.service.submit(submission(user_id=11))


async def test_a_member_and_a_guild_can_only_queue_so_many(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False, guild_queue_limit=5) as h:
        for _ in range(3):
            await h.service.submit(submission(user_id=10))
        with pytest.raises(QueueFullError) as member:
            await h.service.submit(submission(user_id=10))
        assert (member.value.scope, member.value.limit) == ("member", 3)
        await h.service.submit(submission(user_id=11))
        await h.service.submit(submission(user_id=12))
        with pytest.raises(QueueFullError) as guild:
            await h.service.submit(submission(user_id=13))
        assert (guild.value.scope, guild.value.limit) == ("guild", 5)
        await h.service.submit(submission(guild_id=2, user_id=13))  # other guilds are not full


async def test_concurrent_submissions_never_reserve_past_a_budget(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False, guild_queue_limit=0) as h:
        budget = 10 * ONE_JOB + ONE_JOB // 2
        await h.guilds.update_limits(1, changed_by=9, daily_micro_usd=budget, daily_images=0)
        outcomes = await asyncio.gather(
            *(h.service.submit(submission(user_id=u)) for u in range(40)),
            return_exceptions=True,
        )
        admitted = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(admitted) == 10
        assert all(isinstance(e, QuotaExceededError) for e in refused)
        row = await h.db.fetchone("SELECT SUM(charged_micro_usd) FROM jobs")
        assert row is not None and row[0] <= budget


async def test_edit_inputs_are_kept_and_a_refused_edit_leaves_no_file(
    tmp_path: Path, db_target: Path | str
) -> None:
    async with harness(tmp_path, database=db_target, start=False) as h:
        edit = submission(
            operation="edit", images=(input_image(), input_image(8, 4)), mask=input_image()
        )
        admitted = await h.service.submit(edit)
        rows = await h.db.fetchall(
            "SELECT role, idx, path, width FROM job_files WHERE job_id = ? ORDER BY role, idx",
            (admitted.job.id,),
        )
        assert [(r[0], r[1], r[3]) for r in rows] == [
            ("input", 0, 4),
            ("input", 1, 8),
            ("mask", 0, 4),
        ]
        assert all((h.files.root / r[2]).read_bytes() == input_image().data for r in rows)
        await h.guilds.update_limits(1, changed_by=9, daily_micro_usd=1)
        with pytest.raises(QuotaExceededError):
            await h.service.submit(edit)
        on_disk = sorted(p for p in (h.files.root / "inputs").rglob("*") if p.is_file())
        assert len(on_disk) == 3


async def insert_history(h: Harness, count: int, guilds: int = 1) -> None:
    """`count` finished jobs of today, over `guilds` guilds (1, 2, ...)."""
    created = int(START.timestamp())
    async with h.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO jobs (guild_id, channel_id, user_id, operation, prompt, options_json,"
            " state, charged_micro_usd, charged_images, estimated_micro_usd, estimated_tokens,"
            " created_at) VALUES (?, 1, ?, 'generate', 'old', '{\"model\": \"gpt-image-1\"}',"
            " 'succeeded', 1000, 1, 1000, 1000, ?)",
            [(1 + i % guilds, i % 50, created - i) for i in range(count)],
        )


class StepCounter:
    """Counts SQLite virtual-machine steps (in blocks of STEP_BLOCK): the database's work,
    the same on a busy machine as on a quiet one, unlike a wall-clock time."""

    def __init__(self) -> None:
        self.blocks = 0

    def tick(self) -> int:
        self.blocks += 1
        return 0  # go on


STEP_BLOCK = 1


async def admission_work(tmp_path: Path, history: int, guilds: int = 1) -> list[int]:
    """Database steps of 30 admissions by 30 members of guild 1 after `history` finished jobs
    over `guilds` guilds.

    The test opens the connection itself (the bot's code never sees it) to count its steps.
    """
    conn = await connect(tmp_path / "bot.sqlite3")
    try:
        await migrate(conn)
        clock = ManualClock(START)
        h = make_harness(
            SqliteDatabase(conn),
            clock,
            FakeImageBackend(clock, ipm=60, tpm=10**8),
            tmp_path,
            ipm=60,
            tpm=10**8,
            member_queue_limit=0,
            guild_queue_limit=0,
        )
        no_limits = {f.name: 0 for f in fields(GuildLimits) if f.name != "max_count"}
        await h.guilds.update_limits(1, changed_by=9, **no_limits)
        await insert_history(h, history, guilds)
        counter = StepCounter()
        await conn.set_progress_handler(counter.tick, STEP_BLOCK)
        work = []
        for user in range(30):
            before = counter.blocks
            await h.service.submit(submission(user_id=user))
            work.append(counter.blocks - before)
        await h.lifecycle.stop(grace=0)
        return sorted(work)
    finally:
        await conn.close()


async def test_admission_stays_fast_with_a_thousand_prior_jobs(tmp_path: Path) -> None:
    # Its time is measured by benchmarks/admission.py; here, that the work does not grow with
    # history (a scan of past jobs would multiply it; the figures: README, Benchmarks).
    fresh = await admission_work(tmp_path / "fresh", 0)
    busy = await admission_work(tmp_path / "busy", 1000)
    assert fresh[0] > 0  # the counter does see admission's queries
    assert busy[len(busy) // 2] <= fresh[len(fresh) // 2] * 1.1  # typical
    assert busy[-1] <= fresh[-1] * 1.1  # worst case


async def test_admission_stays_fast_when_a_thousand_other_guilds_spent_today(
    tmp_path: Path,
) -> None:
    # Without an account ceiling nothing sums every guild's spending: SQLite computed those
    # totals on each /imagine, a scan that grew with the guilds the bot serves.
    fresh = await admission_work(tmp_path / "fresh", 0)
    busy = await admission_work(tmp_path / "busy", 1000, guilds=1000)
    assert busy[len(busy) // 2] <= fresh[len(fresh) // 2] * 1.1
    assert busy[-1] <= fresh[-1] * 1.1
