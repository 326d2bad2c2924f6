"""A priced submission reserved against every limit in one statement, or refused by name."""

from __future__ import annotations

from datetime import datetime

from bot.catalog.pricing import CostEstimate
from bot.clock import Clock, day_start, month_start
from bot.db import Database
from bot.jobs.admit.limits import MemberLimits, check_reservation
from bot.jobs.admit.validation import ValidRequest
from bot.jobs.models import Submission
from bot.records import JobRecord, NewFile
from bot.store import jobs as store
from bot.store.reservations import Caps, reserve_job

# Reservations tried before a refusal no limit explains is an error: each retry means a job
# ended between the refused insert and the read that explains it.
RESERVE_TRIES = 3


async def reserve(
    db: Database,
    clock: Clock,
    s: Submission,
    valid: ValidRequest,
    cost: CostEstimate,
    limits: MemberLimits,
    saved: list[NewFile],
) -> JobRecord:
    """The queued job holding `cost`, with its input files `saved`; or the QuotaExceededError or
    QueueFullError of the first limit it would break."""
    # Check and insert in ONE statement (bot/store/reservations.py): concurrent submissions
    # can never together exceed a limit. A refusal is explained by reading the same counters
    # (check_reservation raises the limit that binds); when none binds any more (a job ended
    # in between and freed its share), the reservation is tried again.
    for _ in range(RESERVE_TRIES):
        now = clock.now()
        job = await _try_reserve(db, _new_job(s, valid, cost, now), limits, saved, now)
        if job is not None:
            return job
        use = await store.budget_use(
            db,
            s.guild_id,
            s.user_id,
            day_start(now),
            month_start(now),
            account=limits.account.active,
        )
        check_reservation(use, limits, cost, now)
    raise RuntimeError("reservation refused though every limit holds")


async def _try_reserve(
    db: Database, new: store.NewJob, limits: MemberLimits, saved: list[NewFile], now: datetime
) -> JobRecord | None:
    day, month = store.ts(day_start(now)), store.ts(month_start(now))
    if not saved:  # one trip to the database (bot/db/base.py Writer.write)
        return await reserve_job(db, new, _caps(limits), day, month)
    async with db.transaction() as conn:  # the job and its input files, or neither
        job = await reserve_job(conn, new, _caps(limits), day, month)
        if job is not None:
            await store.insert_files(conn, job.id, saved, now)
    return job


def _new_job(s: Submission, valid: ValidRequest, cost: CostEstimate, now: datetime) -> store.NewJob:
    return store.NewJob(
        guild_id=s.guild_id,
        channel_id=s.channel_id,
        user_id=s.user_id,
        operation=s.operation,
        prompt=valid.prompt,
        options=valid.options,
        reserved_micro_usd=cost.micro_usd,
        reserved_images=cost.images,
        estimated_tokens=cost.tokens,
        source_job_id=s.source_job_id,
        created_at=now,
        style=valid.style,
        speed=valid.speed,
        style_text=valid.style_text,
    )


def _caps(limits: MemberLimits) -> Caps:
    g = limits.guild
    return Caps(
        guild_day_micro_usd=g.daily_micro_usd,
        guild_month_micro_usd=g.monthly_micro_usd,
        guild_day_images=g.daily_images,
        user_day_images=limits.user_daily_images,
        user_day_micro_usd=limits.user_daily_micro_usd,
        member_queue=limits.member_queue,
        guild_queue=limits.guild_queue,
        account_day_micro_usd=limits.account.daily_micro_usd,
        account_month_micro_usd=limits.account.monthly_micro_usd,
    )
