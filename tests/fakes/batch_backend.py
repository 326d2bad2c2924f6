"""The fake Batch API in process, for job-queue unit tests on a manual clock (no HTTP).

Same batches, rules and faults as the loopback fake's Files and Batches endpoints
(tests/fakes/openai_batches.py); refusals come back translated as bot errors, as the real
client (bot/provider/batches.py) raises them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from bot.clock import Clock
from bot.provider.batch_wire import BatchInfo, parse_batch
from bot.provider.failures import translate_error
from tests.fakes.openai_batches import FakeBatches
from tests.fakes.openai_outputs import Look
from tests.fakes.openai_rules import ApiError, Call


class _Owner:
    """What FakeBatches reads from the FakeOpenAI server: its clock and look."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock.monotonic
        self.retired_models: set[str] = set()
        self.hide_usage = False  # lines without `usage`, as some gateways answer
        self.served: list[Call] = []

    def look(self) -> Look:
        return Look(usage=not self.hide_usage)

    def record_served(
        self, call: Call, project: str | None, partials: int = 0, *, batch: bool
    ) -> None:
        """Billed lines, kept for tests (the unit fake has no organization endpoints)."""
        self.served.append(call)


class FakeBatchesClient:
    """Implements bot.jobs.backend.BatchApi over a FakeBatches, on the test's clock."""

    def __init__(self, clock: Clock) -> None:
        self.owner = _Owner(clock)
        self.state = FakeBatches(self.owner)  # type: ignore[arg-type]
        self.calls: list[str] = []
        self.fail_next: list[ApiError] = []  # the next calls raise these, in order

    async def upload(self, jsonl: bytes, filename: str) -> str:
        self._call("upload")
        file_id = self.state._id("file")
        self.state.files[file_id] = ("batch", filename, jsonl)
        return file_id

    async def create(
        self, input_file_id: str, endpoint: str, metadata: Mapping[str, str]
    ) -> BatchInfo:
        self._call("create")
        body = {"input_file_id": input_file_id, "endpoint": endpoint,
                "completion_window": "24h", "metadata": dict(metadata)}  # fmt: skip
        try:
            batch = self.state._new_batch(body)
        except ApiError as err:
            raise _translated(err) from None
        self.state.batches[batch.id] = batch
        return parse_batch(batch.as_json())

    async def retrieve(self, batch_id: str) -> BatchInfo:
        self._call("retrieve")
        batch = self.state.batches[batch_id]
        self.state._advance(batch)
        return parse_batch(batch.as_json())

    async def list_since(self, created_after: int) -> list[BatchInfo]:
        self._call("list")
        ordered = sorted(self.state.batches.values(), key=lambda b: b.id, reverse=True)
        return [parse_batch(b.as_json()) for b in ordered if b.created_at >= created_after]

    async def content(self, file_id: str) -> bytes:
        self._call("content")
        return self.state.files[file_id][2]

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_next:
            raise _translated(self.fail_next.pop(0))


def _translated(err: ApiError) -> Exception:
    body: Any = json.dumps(err.body()).encode()
    return translate_error(err.status, body, httpx.Headers(), model="", request_id=None)
