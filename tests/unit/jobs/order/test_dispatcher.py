"""Dispatch: fair turns across guilds, IPM/TPM pacing, the in-flight cap, 429s, the sink."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import RateLimitedError, UpstreamUnavailableError
from bot.jobs.events import JobEvent
from bot.jobs.order.pacing import Pacer
from bot.jobs.order.policy import Room
from tests.fakes.image_backend import Call, FailedAttempt, Step
from tests.unit.jobs_harness import Harness, harness, submission

pytestmark = pytest.mark.asyncio


def most_in_window(calls: list[Call], span: float = 60.0, tokens: bool = False) -> int:
    """The most images (or tokens) the server saw in any window of `span` seconds."""
    amounts = [(c.at, c.tokens if tokens else c.request.options.n) for c in calls]
    return max((sum(a for t, a in amounts if s <= t < s + span) for s, _ in amounts), default=0)


def prompts(h: Harness) -> list[str]:
    return [c.request.prompt for c in h.backend.calls]


async def calls_at_least(h: Harness, count: int) -> None:
    await h.run_until(lambda: len(h.backend.calls) >= count)


async def test_a_small_guild_never_waits_behind_a_big_backlog(tmp_path: Path) -> None:
    async with harness(tmp_path, max_in_flight=1, member_queue_limit=0) as h:
        for i in range(8):
            await h.service.submit(submission(guild_id=1, user_id=i % 2, prompt=f"A{i}"))
        await calls_at_least(h, 1)
        await h.service.submit(submission(guild_id=2, user_id=5, prompt="B0"))
        await h.run_all()
        order = prompts(h)
        assert order.index("B0") <= 2  # behind at most the job in flight and one turn of A
        a_order = [p for p in order if p.startswith("A")]
        assert a_order == [f"A{i}" for i in range(8)]  # FIFO within the guild


async def test_images_per_minute_are_never_exceeded(tmp_path: Path) -> None:
    async with harness(tmp_path, ipm=3) as h:  # the fake answers 429 above 3 a minute
        for user in range(7):
            await h.service.submit(submission(user_id=user))
        await h.run_all()
        calls = h.backend.calls
        assert h.backend.limit_violations == 0
        assert len(calls) == 7
        assert most_in_window(calls) <= 3
        assert calls[-1].at - calls[0].at >= 120  # 7 images at 3 a minute take two minutes


async def test_tokens_per_minute_are_never_exceeded(tmp_path: Path) -> None:
    async with harness(tmp_path, tpm=3_000) as h:  # each job reserves ~1,300 tokens
        for user in range(5):
            await h.service.submit(submission(user_id=user))
        await h.run_all()
        assert h.backend.limit_violations == 0
        assert most_in_window(h.backend.calls, tokens=True) <= 3_000
        assert h.backend.calls[-1].at - h.backend.calls[0].at >= 120


async def test_the_in_flight_cap_bounds_concurrent_requests(tmp_path: Path) -> None:
    async with harness(tmp_path, latency=30.0, max_in_flight=2) as h:
        for user in range(6):
            await h.service.submit(submission(user_id=user))
        await h.run_all()
        assert h.backend.most_in_flight == 2
        assert {j.state for j in await h.jobs()} == {"succeeded"}


async def test_a_429_pauses_dispatch_and_requeues_the_job_at_its_guilds_head(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, max_in_flight=1) as h:
        h.backend.then(
            Step(error=RateLimitedError("slow down", retry_after=7), error_after_latency=False)
        )
        first = await h.service.submit(submission(user_id=10, prompt="first"))
        second = await h.service.submit(submission(user_id=11, prompt="second"))
        await h.run_all()
        assert prompts(h) == ["first", "first", "second"]
        assert h.backend.calls[1].at - h.backend.calls[0].at >= 7
        job = await h.job(first.job.id)
        rows = await h.ledger(first.job.id)
        assert [(r.http_status, r.cost_micro_usd) for r in rows] == [
            (429, 0),
            (200, job.charged_micro_usd),
        ]
        assert job.state == "succeeded" and 0 < job.charged_micro_usd <= job.estimated_micro_usd
        assert h.sink.kinds(first.job.id) == [
            "queued",
            "started",
            "position",
            "started",
            "succeeded",
        ]
        assert (await h.job(second.job.id)).state == "succeeded"


async def test_a_429_without_retry_after_backs_off(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.backend.then(Step(error=RateLimitedError("slow down"), error_after_latency=False))
        await h.service.submit(submission())
        await h.run_all()
        assert len(h.backend.calls) == 2
        assert h.backend.calls[1].at - h.backend.calls[0].at >= 2.0


async def test_repeated_429s_fail_the_job_and_release_it(tmp_path: Path) -> None:
    async with harness(tmp_path, max_rate_limit_retries=2) as h:
        limited = Step(
            error=RateLimitedError("slow down", retry_after=1), error_after_latency=False
        )
        h.backend.then(limited, limited, limited)
        admitted = await h.service.submit(submission())
        await h.run_all()
        job = await h.job(admitted.job.id)
        assert (job.state, job.charged_micro_usd, job.charged_images) == ("failed", 0, 0)
        assert [r.http_status for r in await h.ledger(job.id)] == [429, 429, 429]
        failed = h.sink.of("failed")
        assert len(failed) == 1 and isinstance(failed[0].error, RateLimitedError)


async def test_each_retried_attempt_gets_its_own_ledger_row(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        error = UpstreamUnavailableError("boom", status=500, code="server_error")
        h.backend.then(Step(retried=(FailedAttempt(500, "server_error", "req_x", 1200, error),)))
        admitted = await h.service.submit(submission())
        await h.run_all()
        rows = await h.ledger(admitted.job.id)
        assert [(r.http_status, r.error_code, r.cost_micro_usd, r.request_id) for r in rows] == [
            (500, "server_error", 0, "req_x"),
            (200, None, (await h.job(admitted.job.id)).charged_micro_usd, "req_1"),
        ]
        assert rows[0].latency_ms == 1200 and rows[0].price_version == h.catalog.version


class BrokenSink:
    """Raises on every event, and never returns from a "started" one."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_event(self, event: JobEvent) -> None:
        self.seen.append(event.kind)
        if event.kind == "started":
            await asyncio.Event().wait()
        raise RuntimeError("the Discord layer fell over")


async def test_a_failing_or_stuck_sink_never_holds_up_dispatch(tmp_path: Path) -> None:
    async with harness(tmp_path, max_in_flight=1) as h:
        sink = BrokenSink()
        h.lifecycle.set_sink(sink)
        for user in range(3):
            await h.service.submit(submission(user_id=user))
        await h.run_until(
            lambda: len(h.backend.calls) == 3 and all(c.outcome == "ok" for c in h.backend.calls)
        )
        await h.quiesce()
        assert {j.state for j in await h.jobs()} == {"succeeded"}
        assert sink.seen.count("started") == 3
        assert "succeeded" not in sink.seen  # each job's later events wait behind its own only


async def test_previews_arrive_as_partial_events_between_start_and_result(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.guilds.update_config(1, changed_by=9, previews=True)
        admitted = await h.service.submit(submission())
        await h.run_all()
        kinds = h.sink.kinds(admitted.job.id)
        assert kinds == ["queued", "started", "partial", "partial", "succeeded"]
        partials = [e.partial for e in h.sink.of("partial")]
        assert [p.index for p in partials if p is not None] == [0, 1]
        rows = await h.ledger(admitted.job.id)
        assert rows[0].partial_images == 2


async def test_position_events_only_for_jobs_whose_place_changed(tmp_path: Path) -> None:
    async with harness(tmp_path, max_in_flight=1, latency=10.0, start=False) as h:
        jobs = [await h.service.submit(submission(user_id=u)) for u in range(4)]
        assert [j.position for j in jobs] == [1, 2, 3, 4]
        await h.lifecycle.start()
        await h.run_all()
        for admitted in jobs:
            mine = [e for e in h.sink.events if e.job.id == admitted.job.id]
            places = [e.position for e in mine if e.kind in ("queued", "position")]
            assert places == list(range(admitted.position, 0, -1))


async def test_admissions_do_not_wake_dispatch_while_every_slot_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 200 /imagine a second, a look at the pacer per admission was CPU spent for nothing
    while every call is in flight: the dispatcher waits for a slot, then sends in fair order."""
    looks = 0
    real_room = Pacer.room

    def room(self: Pacer) -> Room:
        nonlocal looks
        looks += 1
        return real_room(self)

    monkeypatch.setattr(Pacer, "room", room)
    async with harness(tmp_path, latency=30.0, max_in_flight=1, member_queue_limit=0) as h:
        await h.service.submit(submission(user_id=0, prompt="P0"))
        await calls_at_least(h, 1)  # its call is in flight for 30 s
        before = looks
        for user in range(1, 21):
            await h.service.submit(submission(user_id=user, prompt=f"P{user}"))
        await h.run_for(10.0)
        assert looks == before and len(h.backend.calls) == 1
        await h.run_all()
        assert prompts(h) == [f"P{user}" for user in range(21)]
