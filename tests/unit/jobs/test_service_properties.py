"""Property: random guilds, members and requests, submitted concurrently and run to the end.

Whatever the mix, no guild or member ever spends past a limit, the API never sees more than
IPM images (or TPM tokens) in a minute, and every reservation ends settled or released, each
job's charge backed by its ledger rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.errors import (
    InvalidOptionError,
    JobNotCancellableError,
    PromptRejectedError,
    RateLimitedError,
    UpstreamUnavailableError,
    UserFacingError,
)
from bot.guild_settings import GuildLimits, RoleQuota, effective_user_limits
from bot.records import JobRecord
from tests.fakes.image_backend import FailedAttempt, Step
from tests.unit.jobs.lost_answers import read_timeout_lost
from tests.unit.jobs.order.test_dispatcher import most_in_window
from tests.unit.jobs_harness import Harness, harness, input_image, submission

CLASSIC = ("auto", "low", "medium", "high")  # what every model in MODELS offers
MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2")
SIZES = ("auto", "1024x1024", "1536x1024")
ROLE = 900
MAX_IN_FLIGHT = 3

limits_st = st.fixed_dictionaries(
    {
        "daily_micro_usd": st.sampled_from([0, 150_000, 400_000]),
        "monthly_micro_usd": st.sampled_from([0, 300_000, 5_000_000]),
        "daily_images": st.sampled_from([0, 4, 10]),
        "user_daily_images": st.sampled_from([0, 2, 5]),
        "user_daily_micro_usd": st.sampled_from([0, 100_000, 300_000]),
        "max_count": st.sampled_from([0, 2, 4]),
    }
)
role_st = st.one_of(
    st.none(),
    st.tuples(st.sampled_from([None, 0, 8]), st.sampled_from([None, 0, 500_000])),
)


@dataclass(frozen=True)
class Request:
    guild: int
    member: int
    model: str
    size: str
    quality: str
    n: int
    edit_inputs: tuple[tuple[int, int], ...]


request_st = st.builds(
    Request,
    guild=st.integers(1, 3),
    member=st.integers(1, 4),
    model=st.sampled_from(MODELS),
    size=st.sampled_from(SIZES),
    quality=st.sampled_from(CLASSIC),
    n=st.integers(1, 5),
    edit_inputs=st.lists(
        st.tuples(st.sampled_from([512, 1024]), st.sampled_from([512, 1536])), max_size=2
    ).map(tuple),
)


def has_role(member: int) -> bool:
    return member % 2 == 1


def outcome(rng: random.Random) -> Step:
    """What the fake API does with one call: mostly success, sometimes each kind of failure."""
    latency = rng.uniform(3, 30)
    roll = rng.random()
    error = UpstreamUnavailableError("server error", status=500, code="server_error")
    retried = (FailedAttempt(500, "server_error", None, 900, error),)
    if roll < 0.06:
        return Step(error=error, retried=retried, latency=latency)
    if roll < 0.10:
        return Step(error=PromptRejectedError("req_mod"), latency=latency)
    if roll < 0.16:
        return Step(error=RateLimitedError("slow down", retry_after=3), error_after_latency=False)
    if roll < 0.20:
        lost = read_timeout_lost()
        return Step(error=lost, latency=latency)
    if roll < 0.25:
        return Step(retried=retried, latency=latency)
    return Step(latency=latency)


async def configure(h: Harness, guilds: list[dict[str, int]], roles: list[Any]) -> None:
    for guild_id, (limits, role) in enumerate(zip(guilds, roles, strict=True), start=1):
        await h.guilds.update_limits(guild_id, changed_by=1, **limits)
        if role is not None:
            await h.guilds.set_role_quota(
                guild_id, ROLE, changed_by=1, user_daily_images=role[0],
                user_daily_micro_usd=role[1],
            )  # fmt: skip


async def submit_all(h: Harness, wave: list[Request], first: int) -> list[int]:
    async def one(number: int, r: Request) -> int | None:
        s = submission(
            prompt=f"request {number}",  # distinct: the fake's calls map back to their jobs
            guild_id=r.guild,
            user_id=r.member,
            role_ids=(ROLE,) if has_role(r.member) else (),
            model=r.model,
            size=r.size,
            quality=r.quality,
            n=r.n,
            operation="edit" if r.edit_inputs else "generate",
            images=tuple(input_image(w, hh) for w, hh in r.edit_inputs),
        )
        try:
            return (await h.service.submit(s)).job.id
        except UserFacingError as exc:  # refusals are fine; anything else fails the test
            assert not isinstance(exc, InvalidOptionError) or exc.option in ("count", "size")
            return None

    ids = await asyncio.gather(*(one(first + i, r) for i, r in enumerate(wave)))
    return [i for i in ids if i is not None]


async def cancel_some(h: Harness, ids: list[int], rng: random.Random, most: int) -> None:
    async def one(job_id: int) -> None:
        job = await h.job(job_id)
        with contextlib.suppress(JobNotCancellableError):  # it may have started already
            await h.service.cancel(
                job_id, guild_id=job.guild_id, user_id=job.user_id, is_moderator=False
            )

    await asyncio.gather(*(one(i) for i in rng.sample(ids, k=min(len(ids), most))))


async def check_invariants(
    h: Harness, guilds: list[dict[str, int]], roles: list[Any], ipm: int, tpm: int
) -> None:
    jobs = await h.jobs()
    spend: dict[int, int] = defaultdict(int)
    images: dict[int, int] = defaultdict(int)
    member_spend: dict[tuple[int, int], int] = defaultdict(int)
    member_images: dict[tuple[int, int], int] = defaultdict(int)
    for job in jobs:
        assert job.state not in ("queued", "running")
        rows = await h.ledger(job.id)
        assert job.charged_micro_usd == sum(r.cost_micro_usd for r in rows)
        assert job.charged_micro_usd <= job.estimated_micro_usd
        if job.state in ("failed", "cancelled"):
            assert (job.charged_micro_usd, job.charged_images) == (0, 0)
        finals = [e.kind for e in h.sink.events if e.job.id == job.id and e.kind in
                  ("succeeded", "failed", "cancelled", "unknown")]  # fmt: skip
        assert finals == [job.state]
        spend[job.guild_id] += job.charged_micro_usd
        images[job.guild_id] += job.charged_images
        member_spend[job.guild_id, job.user_id] += job.charged_micro_usd
        member_images[job.guild_id, job.user_id] += job.charged_images
    for guild_id, raw in enumerate(guilds, start=1):
        limits = GuildLimits(**raw)
        for allowed, used in (
            (limits.daily_micro_usd, spend[guild_id]),
            (limits.monthly_micro_usd, spend[guild_id]),
            (limits.daily_images, images[guild_id]),
        ):
            assert not allowed or used <= allowed
        role = roles[guild_id - 1]
        quotas = [] if role is None else [RoleQuota(ROLE, role[0], role[1])]
        for member in range(1, 5):
            member_roles = [ROLE] if has_role(member) else []
            max_images, max_usd = effective_user_limits(limits, quotas, member_roles)
            assert not max_images or member_images[guild_id, member] <= max_images
            assert not max_usd or member_spend[guild_id, member] <= max_usd
    accepted = h.backend.accepted
    assert h.backend.limit_violations == 0
    assert most_in_window(accepted) <= ipm
    assert most_in_window(accepted, tokens=True) <= tpm
    assert h.backend.most_prompts_in_flight <= MAX_IN_FLIGHT  # jobs; a job's requests overlap
    await check_requests(h, jobs)


async def check_requests(h: Harness, jobs: list[JobRecord]) -> None:
    """No image is ever asked for twice (a 429 aside); edits go whole; kept images are kept."""
    asked: dict[str, list[int]] = defaultdict(list)
    for call in h.backend.accepted:
        asked[call.request.prompt].append(call.request.options.n)
    for job in jobs:
        assert sum(asked[job.prompt]) <= job.n
        if job.operation == "edit":
            assert set(asked[job.prompt]) <= {job.n}
        kept = await h.service.result_files(job.id)
        assert [f.index for f in kept] == list(range(len(kept)))
        assert bool(kept) == (job.state == "succeeded")
        assert len(kept) <= job.charged_images <= job.n


async def scenario(
    tmp: Path,
    ipm: int,
    tpm: int,
    guilds: list[dict[str, int]],
    roles: list[Any],
    waves: list[list[Request]],
    seed: int,
    cancels: int = 3,
    **options: Any,
) -> None:
    rng = random.Random(seed)
    async with harness(tmp, ipm=ipm, tpm=tpm, max_in_flight=MAX_IN_FLIGHT, **options) as h:
        h.backend.chooser = lambda _request: outcome(rng)
        await configure(h, guilds, roles)
        for number, wave in enumerate(waves):
            ids = await submit_all(h, wave, number * 100)
            await cancel_some(h, ids, rng, cancels)
            await h.run_for(rng.uniform(0, 90))
        await h.run_all()
        await check_invariants(h, guilds, roles, ipm, tpm)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    ipm=st.sampled_from([4, 10, 30]),
    tpm=st.sampled_from([12_000, 40_000, 10**7]),
    guilds=st.lists(limits_st, min_size=3, max_size=3),
    roles=st.lists(role_st, min_size=3, max_size=3),
    waves=st.lists(st.lists(request_st, min_size=1, max_size=10), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_limit_is_ever_exceeded_and_every_reservation_ends(
    ipm: int,
    tpm: int,
    guilds: list[dict[str, int]],
    roles: list[Any],
    waves: list[list[Request]],
    seed: int,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp), ipm, tpm, guilds, roles, waves, seed))


UNLIMITED = {
    "daily_micro_usd": 0,
    "monthly_micro_usd": 0,
    "daily_images": 0,
    "user_daily_images": 0,
    "user_daily_micro_usd": 0,
    "max_count": 0,
}
busy_request_st = st.builds(
    Request,
    guild=st.integers(1, 3),
    member=st.integers(1, 4),
    model=st.sampled_from(MODELS),
    size=st.sampled_from(SIZES),
    quality=st.sampled_from(CLASSIC),
    n=st.integers(2, 6),
    edit_inputs=st.sampled_from([(), (), (), ((512, 512),)]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ipm=st.sampled_from([4, 6]),
    waves=st.lists(st.lists(busy_request_st, min_size=4, max_size=8), min_size=1, max_size=2),
    seed=st.integers(0, 2**32 - 1),
)
def test_jobs_split_into_requests_settle_exactly_and_never_resend_an_image(
    ipm: int, waves: list[list[Request]], seed: int
) -> None:
    """A small IPM and big jobs: most generations go out in several requests, and some of
    those requests meet 429s, refusals and lost answers after others were answered."""
    with tempfile.TemporaryDirectory() as tmp:
        guilds, roles = [UNLIMITED] * 3, [None] * 3
        # No burst spreading: the window alone decides, and a busy one splits most jobs.
        asyncio.run(
            scenario(Path(tmp), ipm, 10**7, guilds, roles, waves, seed, cancels=1, burst=ipm)
        )
