"""Each job's Origin in this process: tracked at admission, or rebuilt from its stored token."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot.records import InteractionOrigin, JobRecord
from cogs._reply import LiveReply, StoredReply
from cogs._status import Origin

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; stop using one a little before, so an upload in progress
# never races the expiry.
TOKEN_LIFETIME = timedelta(minutes=14, seconds=30)
ACK_WAIT = 5.0  # how long an event waits for the command to finish acknowledging


class Origins:
    """Where each job's status and result are shown, as far as this process knows.

    With one process (SQLite) every job's Origin is the interaction tracked at admission. In
    cluster mode (DATABASE_URL) the process that runs a job may not have admitted it: the
    admitting one stores the origin at acknowledgement (bot/jobs/settle/origins.py), and this
    one rebuilds it from the stored token, editing the same original response over REST.
    """

    def __init__(self, bot: ImageBot) -> None:
        self._bot = bot
        self._book = bot.services.origins
        self._clock = bot.services.clock
        self._origins: dict[int, Origin] = {}
        # Jobs with no stored origin that will never get one (acknowledged long ago), by their
        # creation: the dispatcher's position events need no database read for them.
        self._absent: dict[int, datetime] = {}

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._origins

    def track(self, job_id: int, interaction: discord.Interaction) -> None:
        if self._book.shared:
            self._drop_expired()  # another process may end this one's jobs
        self._origins[job_id] = Origin(LiveReply(interaction), self._clock)

    async def acknowledged(
        self, interaction: discord.Interaction, job_id: int, *, private: bool, shown: str
    ) -> None:
        """The command's reply (showing `shown`) is out; it counts as the first status edit.
        In cluster mode the origin is stored for whichever process runs the job."""
        origin = self._origins.get(job_id)
        if origin is None:
            return  # the job has already ended here
        origin.acknowledge(private=private, shown=shown)
        if not self._book.shared or interaction.application_id is None:
            return
        stored = InteractionOrigin(
            job_id=job_id,
            application_id=interaction.application_id,
            token=interaction.token,
            created_at=interaction.created_at,
            private=private,
        )
        try:
            await self._book.remember(stored)
        except Exception as exc:  # its member still sees the result (a mention at worst)
            log.warning("could not store the origin of job %s: %s", job_id, type(exc).__name__)

    async def live(self, job: JobRecord) -> Origin | None:
        """The job's Origin while its token lives and its reply is out, else None."""
        origin = self._origins.get(job.id) or await self._rebuild(job)
        if origin is None:
            return None
        if not origin.acknowledged.is_set():  # wait_for costs a task: only when it must wait
            try:
                await asyncio.wait_for(origin.acknowledged.wait(), ACK_WAIT)
            except TimeoutError:
                return None
        if self._clock.now() - origin.reply.created_at > TOKEN_LIFETIME:
            return None
        return origin

    async def close(self, job_id: int) -> None:
        """The job has ended: no more statuses, and its stored token is deleted."""
        origin = self._origins.pop(job_id, None)
        self._absent.pop(job_id, None)
        if origin is not None:
            await origin.close()
        if self._book.shared:
            try:
                await self._book.forget(job_id)
            except Exception as exc:  # retention purges it within 15 minutes
                log.warning("could not delete the origin of job %s: %s", job_id, type(exc).__name__)

    def stop_all(self) -> None:
        """The bot is closing: no status edit goes out through a closed session."""
        for origin in self._origins.values():
            origin.stop()

    async def _rebuild(self, job: JobRecord) -> Origin | None:
        """The Origin another process stored for this job, if its token still lives."""
        age = self._clock.now() - job.created_at  # the interaction is older still
        if not self._book.shared or job.id in self._absent or age > TOKEN_LIFETIME:
            return None
        try:
            stored = await self._book.find(job.id)
        except Exception as exc:
            log.warning("could not read the origin of job %s: %s", job.id, type(exc).__name__)
            return None
        if stored is None:
            if age > timedelta(seconds=ACK_WAIT):  # its command is long done: none will come
                self._remember_absent(job)
            return None
        if job.id in self._origins:  # another event of the job rebuilt it meanwhile
            return self._origins[job.id]
        self._drop_expired()  # the job may end in another process: none ends here
        origin = Origin(StoredReply(self._bot, stored, job.guild_id), self._clock)
        origin.resume(private=stored.private)
        self._origins[job.id] = origin
        return origin

    def _remember_absent(self, job: JobRecord) -> None:
        while self._absent:  # oldest first; past the token's life the age alone says it
            oldest, created = next(iter(self._absent.items()))
            if self._clock.now() - created <= TOKEN_LIFETIME:
                break
            del self._absent[oldest]
        self._absent[job.id] = job.created_at

    def _drop_expired(self) -> None:
        """Forget origins whose token has expired (oldest first: jobs are tracked in order)."""
        while self._origins:
            job_id, origin = next(iter(self._origins.items()))
            if self._clock.now() - origin.reply.created_at <= TOKEN_LIFETIME:
                return
            del self._origins[job_id]
            origin.stop()
