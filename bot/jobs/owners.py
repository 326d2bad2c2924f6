"""Which process runs a job, and whether it still lives (bot/cluster/liveness.py; SQLite: one)."""

from __future__ import annotations

from typing import Protocol


class Owners(Protocol):
    """The process marking jobs running, and a look at another process's life."""

    @property
    def process_id(self) -> int | None:
        """This process's id, recorded on the jobs it runs (None: one process, no record)."""
        ...

    async def alive(self, process_id: int, *, grace: bool = True) -> bool:
        """Whether that process still lives (its running jobs are then its own to end). With
        `grace`, one found gone only a moment ago still counts as living (bot/cluster/liveness.py
        DEATH_CONFIRM_S): for ending its running jobs, never for re-sending its results."""
        ...


class LoneProcess:
    """SQLite's one process: its jobs carry no process, and a job left running at start-up was
    left by the last run, which is over."""

    @property
    def process_id(self) -> int | None:
        return None

    async def alive(self, process_id: int, *, grace: bool = True) -> bool:
        return False
