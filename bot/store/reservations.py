"""Admission's check-and-insert: a queued job inserted only if every limit holds, at once."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import Writer
from bot.records import JobRecord
from bot.store.jobs import _BUDGET_USE, DAY, NewJob, options_to_json, queued_record, ts

# The lock key of the account as a whole: no guild has id 0 (Discord snowflakes are positive).
ACCOUNT_LOCK = 0


@dataclass(frozen=True, slots=True)
class Caps:
    """Every limit a reservation must stay within (0 = no limit); money in micro-USD."""

    guild_day_micro_usd: int
    guild_month_micro_usd: int
    guild_day_images: int
    user_day_images: int
    user_day_micro_usd: int
    member_queue: int
    guild_queue: int
    account_day_micro_usd: int = 0  # every guild together (ACCOUNT_DAILY_USD)
    account_month_micro_usd: int = 0


# The counters of migration 0007 read and the job inserted by ONE statement: SQLite runs a
# statement atomically, so concurrent reservations can never together exceed a limit, and
# admission holds the database lock for one trip to the database thread instead of two.
# PostgreSQL runs concurrent statements side by side under READ COMMITTED, each reading the
# counters as they were when it began, so reserve_job first takes the guild's advisory lock
# (Writer.write's locks): admissions of one guild take turns, other guilds' run alongside.
# The conditions mirror bot.jobs.admit.admission.check_reservation (which explains a refusal).
_RESERVE = """
INSERT INTO jobs (guild_id, channel_id, user_id, operation, prompt, options_json, state,
                  charged_micro_usd, charged_images, estimated_micro_usd, estimated_tokens,
                  source_job_id, created_at, style, speed, style_text)
SELECT :guild, :channel, :user, :operation, :prompt, :options, 'queued', :usd, :images, :usd,
       :tokens, :source, :created, :style, :speed, :style_text
FROM ({budget_use}) AS u
WHERE (:member_queue = 0 OR u.u_queued < :member_queue)
  AND (:guild_queue = 0 OR u.g_queued < :guild_queue)
  AND (:g_day_usd = 0 OR u.g_day_usd + :usd <= :g_day_usd)
  AND (:g_month_usd = 0 OR u.g_month_usd + :usd <= :g_month_usd)
  AND (:g_day_images = 0 OR u.g_day_images + :images <= :g_day_images)
  AND (:u_day_images = 0 OR u.u_day_images + :images <= :u_day_images)
  AND (:u_day_usd = 0 OR u.u_day_usd + :usd <= :u_day_usd)
  AND (:a_day_usd = 0 OR u.a_day_usd + :usd <= :a_day_usd)
  AND (:a_month_usd = 0 OR u.a_month_usd + :usd <= :a_month_usd)
RETURNING id
"""
# The account's totals are read only with an account ceiling (bot/store/jobs.py _BUDGET_USE).
_RESERVES = {
    account: _RESERVE.format(budget_use=_BUDGET_USE[account])  # constant SQL text
    for account in (False, True)
}


async def reserve_job(
    conn: Writer, job: NewJob, caps: Caps, day_start: int, month_start: int
) -> JobRecord | None:
    """Insert `job` as queued holding its reservation if every cap holds, else None (nothing
    written). `day_start`/`month_start` are the UTC midnights in epoch seconds. On a Database
    the lock and the insert are one trip (bot/db/base.py Writer.write); on a Transaction, the
    job's other rows (its files) commit with it."""
    params = {
        "guild": job.guild_id, "channel": job.channel_id, "user": job.user_id,
        "operation": job.operation, "prompt": job.prompt,
        "options": options_to_json(job.options), "usd": job.reserved_micro_usd,
        "images": job.reserved_images, "tokens": job.estimated_tokens,
        "source": job.source_job_id, "created": ts(job.created_at), "style": job.style,
        "speed": job.speed, "style_text": job.style_text,
        "day": day_start // DAY, "month": month_start // DAY,
        "member_queue": caps.member_queue, "guild_queue": caps.guild_queue,
        "g_day_usd": caps.guild_day_micro_usd, "g_month_usd": caps.guild_month_micro_usd,
        "g_day_images": caps.guild_day_images, "u_day_images": caps.user_day_images,
        "u_day_usd": caps.user_day_micro_usd, "a_day_usd": caps.account_day_micro_usd,
        "a_month_usd": caps.account_month_micro_usd,
    }  # fmt: skip
    # The account's ceilings sum every guild, so with one set every guild's admissions take
    # turns (always this lock first, then the guild's: one order, no deadlock).
    account = caps.account_day_micro_usd or caps.account_month_micro_usd
    locks = (ACCOUNT_LOCK, job.guild_id) if account else (job.guild_id,)
    rows = await conn.write(_RESERVES[bool(account)], params, locks=locks)
    return queued_record(rows[0][0], job) if rows else None
