"""One process's Leadership built from its job queue's parts: the lease, the duties, the mirror."""

from __future__ import annotations

from collections.abc import Callable

from bot.clock import Clock
from bot.cluster.duties import DispatcherDuties
from bot.cluster.leader import Leadership
from bot.cluster.lease import Lease
from bot.cluster.liveness import Liveness
from bot.cluster.sync import QueueSync
from bot.db import Database
from bot.jobs.wiring import JobQueueParts


def build_leadership(
    parts: JobQueueParts,
    *,
    db: Database,
    clock: Clock,
    retention_days: int,
    on_change: Callable[[bool], None] | None = None,
    liveness: Liveness | None = None,
) -> Leadership:
    """On SQLite the lease is held at once and for good, and the queue needs no mirror (one
    process: exactly as before); on PostgreSQL every process mirrors the queue and the lease's
    holder dispatches."""
    lease = Lease(db)
    sync = None
    if not lease.lasting:
        assert parts.queue is not None and parts.wake is not None  # build_job_queue sets both
        sync = QueueSync(db=db, clock=clock, queue=parts.queue, wake=parts.wake,
                         relaxed=parts.relaxed)  # fmt: skip
    duties = DispatcherDuties(lifecycle=parts.lifecycle, retention=parts.retention,
                              retention_days=retention_days, clock=clock, sync=sync)  # fmt: skip
    return Leadership(lease=lease, duties=duties, clock=clock, on_change=on_change,
                      liveness=liveness)  # fmt: skip
