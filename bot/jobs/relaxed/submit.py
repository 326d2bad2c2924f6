"""Submitting a relaxed batch: JSONL from its jobs, upload (purpose batch), create, record.

Every step is recorded as soon as it is known (bot/store/batches.py), so a restart picks up
where the last run stopped: a batch without a provider id is first looked for in the batch list
by the key in its metadata (the create may have gone through and its answer been lost), and
created only when it is not there. A job is never put in a second batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.errors import UserFacingError
from bot.jobs.backend import BatchApi
from bot.jobs.relaxed.settle import RelaxedSettlement
from bot.jobs.run.prepare import prepare
from bot.provider.batch_wire import (
    ENDPOINTS,
    INPUT_FILE_MAX_BYTES,
    BatchInfo,
    jobs_metadata,
    request_line,
)
from bot.records import JobRecord
from bot.store import batches as store
from bot.store.batches import BatchRow
from bot.store.files import FileStore
from bot.store.jobs import jobs_by_ids

log = logging.getLogger(__name__)

LOOKBACK_SECONDS = 3600  # how far before our row's creation the provider's list is searched


class BatchSubmitter:
    """Takes a `preparing` batch to `submitted`; raises the upstream error of a failed step."""

    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        files: FileStore,
        clock: Clock,
        client: BatchApi,
        settlement: RelaxedSettlement,
        requeue: Callable[[list[JobRecord], float], None],
        max_input_bytes: int = INPUT_FILE_MAX_BYTES,
    ) -> None:
        self._db = db
        self._requeue = requeue  # jobs back to gathering (lines past the file's byte cap)
        self._max_bytes = max_input_bytes
        self._catalog = catalog
        self._files = files
        self._clock = clock
        self._client = client
        self._settle = settlement

    async def submit(self, row: BatchRow, *, maybe_created: bool) -> BatchInfo | None:
        """Upload and create (or find) the batch; None when none of its jobs is left to send.

        `maybe_created`: a create was attempted before (this run or the last) without its answer
        being recorded, so the provider's list is searched for our key first.
        """
        if maybe_created:
            found = await self.find(row)
            if found is not None:
                log.info("found batch %s (%s) again by its metadata", found.id, row.key)
                await self._record(row, found)
                return found
        file_id = row.input_file_id
        job_ids: list[int] = []
        if file_id is None:
            jsonl, job_ids, left = await self._jsonl(row)
            if left:
                await self._give_back(row, left)
            if not job_ids:
                return None
            file_id = await self._client.upload(jsonl, f"{row.key}.jsonl")
            async with self._db.transaction() as conn:
                await store.set_input_file(conn, row.id, file_id)
        else:
            job_ids = [m.job_id for m in await store.members(self._db, row.id)]
        metadata = jobs_metadata(row.key, job_ids)
        info = await self._client.create(file_id, ENDPOINTS[row.operation], metadata)
        await self._record(row, info)
        log.info("submitted batch %s (%s) with %d jobs", info.id, row.key, len(job_ids))
        return info

    async def find(self, row: BatchRow) -> BatchInfo | None:
        """Our batch in the provider's list, by the key in its metadata."""
        since = int(row.created_at.timestamp()) - LOOKBACK_SECONDS
        for info in await self._client.list_since(since):
            if info.metadata.get("imagebot_batch") == row.key:
                return info
        return None

    async def _record(self, row: BatchRow, info: BatchInfo) -> None:
        async with self._db.transaction() as conn:
            await store.set_submitted(conn, row.id, info.id, info.status, self._clock.now())

    async def _jsonl(self, row: BatchRow) -> tuple[bytes, list[int], list[int]]:
        """The input file's lines, the jobs in them, and the jobs left out because the file
        would pass its byte cap (they go in a later batch). A job whose request cannot be
        rebuilt is released on its own."""
        members = await store.members(self._db, row.id)
        jobs = await jobs_by_ids(self._db, [m.job_id for m in members])
        lines: list[bytes] = []
        taken: list[int] = []
        left: list[int] = []
        size = 0
        for member in members:
            job = jobs.get(member.job_id)
            if job is None or job.state != "running":
                continue
            if left:
                left.append(job.id)
                continue
            try:
                _, request = await prepare(job, self._catalog, self._db, self._files)
            except UserFacingError as exc:  # an input file gone, a model dropped from the catalog
                await self._settle.not_run(job, "failed", str(exc))
                continue
            options = replace(request.options, partial_images=0)  # a batch never streams
            line = request_line(member.custom_id, replace(request, options=options))
            if taken and size + len(line) > self._max_bytes:
                left.append(job.id)
                continue
            lines.append(line)
            taken.append(job.id)
            size += len(line)
        return b"".join(lines), taken, left

    async def _give_back(self, row: BatchRow, job_ids: list[int]) -> None:
        async with self._db.transaction() as conn:
            back = await store.give_back(conn, row.id, job_ids=job_ids)
        log.info("batch %s: %d jobs wait for the next batch (input file cap)", row.key, len(back))
        self._requeue(back, 0.0)
