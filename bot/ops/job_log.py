"""Watches the job event bus: one log line and the metrics for each job admitted or finished."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.jobs.events import JobEvent
from bot.ops.metrics import MICRO, Metrics

log = logging.getLogger("bot.jobs.finished")

FINAL_KINDS = frozenset({"succeeded", "failed", "cancelled", "unknown"})


class JobObserver:
    """Counts admissions and finished jobs, and logs each finished job once, in either format.

    Results finished before `since` (this process's start) and announced again at start-up
    (bot/jobs/lifecycle.py) were logged and counted by the run that finished them.
    """

    def __init__(self, metrics: Metrics, since: datetime) -> None:
        self._metrics = metrics
        self._since = since

    def __call__(self, event: JobEvent) -> None:
        job = event.job
        if event.kind == "queued":
            self._metrics.admissions.labels("admitted").inc()
            return
        if event.kind not in FINAL_KINDS:
            return
        if job.finished_at is not None and job.finished_at < self._since:
            return
        self._metrics.jobs_finished.labels(event.kind, job.speed).inc()
        seconds = None
        if job.finished_at is not None:
            seconds = round((job.finished_at - job.created_at).total_seconds(), 3)
        cost = job.charged_micro_usd / MICRO
        fields = {
            # Ids as strings: Discord snowflakes exceed 2^53, which JSON readers in JavaScript
            # (and many log shippers) round (https://discord.com/developers/docs/reference#snowflakes).
            "job": str(job.id),
            "guild": str(job.guild_id),
            "user": str(job.user_id),
            "model": job.model,
            "outcome": event.kind,
            "cost_usd": cost,
            "seconds": seconds,
        }
        log.info(
            "job %d %s: guild=%d model=%s cost=$%.6f seconds=%s",
            job.id, event.kind, job.guild_id, job.model, cost, seconds, extra=fields,
        )  # fmt: skip
