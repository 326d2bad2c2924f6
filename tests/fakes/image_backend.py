"""An in-process fake of the Images API client for queue tests: scripted outcomes on a clock.

It answers like the real client: a result, or a bot.errors error; retried attempts go through
`on_failed_attempt`. It enforces a strict IPM rule (and TPM, on the tokens it would bill, from
its own model table in tests/fakes/openai_models.py, never the bot's catalog): a request that
would put more than `ipm` images in the last 60 s gets a 429.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from PIL import Image

from bot.clock import ManualClock
from bot.domain import ImageRequest, ImagesResult, PartialImage, TokenUsage
from bot.errors import RateLimitedError, UpstreamError
from tests.fakes.openai_models import MODELS
from tests.fakes.openai_outputs import input_image_tokens, text_tokens

_REJECTED = ("429-limit", "error:RateLimitedError")  # a 429 consumes nothing


def tiny_png(shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (shade % 256, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """What the real client reports for a retried attempt."""

    status: int | None
    code: str | None
    request_id: str | None
    latency_ms: int
    error: UpstreamError


@dataclass(slots=True)
class Step:
    """One scripted call: retried failures first, then hang, raise `error`, or succeed."""

    error: BaseException | None = None
    latency: float | None = None
    usage: TokenUsage | None = None
    retried: tuple[FailedAttempt, ...] = ()
    hang: bool = False
    error_after_latency: bool = True


@dataclass(slots=True)
class Call:
    """A request as the fake saw it."""

    at: float
    request: ImageRequest
    tokens: int
    outcome: str = "pending"  # ok, error:<Type>, 429, cancelled


@dataclass(slots=True)
class FakeImageBackend:
    clock: ManualClock
    latency: float = 5.0
    ipm: int | None = None
    tpm: int | None = None
    window: float = 60.0
    script: deque[Step] = field(default_factory=deque)
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    # Requests in flight by prompt: with a distinct prompt per job, the jobs in flight.
    prompts_in_flight: Counter[str] = field(default_factory=Counter)
    most_prompts_in_flight: int = 0
    chooser: Callable[[ImageRequest], Step] | None = None
    _seq: int = 0

    def then(self, *steps: Step) -> FakeImageBackend:
        self.script.extend(steps)
        return self

    @property
    def accepted(self) -> list[Call]:
        """Calls that the (strict) limits let through, in arrival order."""
        return [c for c in self.calls if c.outcome not in _REJECTED]

    @property
    def limit_violations(self) -> int:
        return sum(c.outcome == "429-limit" for c in self.calls)

    async def run(
        self,
        request: ImageRequest,
        *,
        on_partial: Callable[[PartialImage], Awaitable[None]] | None = None,
        on_failed_attempt: Callable[[FailedAttempt], Awaitable[None]] | None = None,
    ) -> ImagesResult:
        now = self.clock.monotonic()
        call = Call(now, request, self._tokens(request))
        self.calls.append(call)
        if self._over_limit(call):
            call.outcome = "429-limit"
            raise RateLimitedError("IPM limit reached", retry_after=None)
        step = self._next_step(request)
        self._enter(request)
        try:
            return await self._play(call, step, on_partial, on_failed_attempt)
        except asyncio.CancelledError:
            call.outcome = "cancelled"
            raise
        except BaseException as exc:
            call.outcome = f"error:{type(exc).__name__}"
            raise
        finally:
            self._leave(request)

    def _enter(self, request: ImageRequest) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.prompts_in_flight[request.prompt] += 1
        self.most_prompts_in_flight = max(self.most_prompts_in_flight, len(self.prompts_in_flight))

    def _leave(self, request: ImageRequest) -> None:
        self.in_flight -= 1
        self.prompts_in_flight[request.prompt] -= 1
        if not self.prompts_in_flight[request.prompt]:
            del self.prompts_in_flight[request.prompt]

    def _next_step(self, request: ImageRequest) -> Step:
        if self.script:
            return self.script.popleft()
        return self.chooser(request) if self.chooser else Step()

    async def _play(
        self,
        call: Call,
        step: Step,
        on_partial: Callable[[PartialImage], Awaitable[None]] | None,
        on_failed_attempt: Callable[[FailedAttempt], Awaitable[None]] | None,
    ) -> ImagesResult:
        for attempt in step.retried:
            if on_failed_attempt is not None:
                await on_failed_attempt(attempt)
        if step.hang:
            await asyncio.Event().wait()
        if step.error is not None and not step.error_after_latency:
            raise step.error
        latency = self.latency if step.latency is None else step.latency
        opts = call.request.options
        partials = opts.partial_images if opts.n == 1 and on_partial is not None else 0
        for index in range(partials):
            await self.clock.sleep(latency / (partials + 1))
            assert on_partial is not None
            await on_partial(PartialImage(index, tiny_png(index)))
        await self.clock.sleep(latency - latency * partials / (partials + 1))
        if step.error is not None:
            raise step.error
        call.outcome = "ok"
        return self._result(call, step, partials, latency)

    def _result(self, call: Call, step: Step, partials: int, latency: float) -> ImagesResult:
        self._seq += 1
        opts = call.request.options
        size, quality = self._resolved(call.request)
        return ImagesResult(
            images=tuple(tiny_png(self._seq + i) for i in range(opts.n)),
            size=size,
            quality=quality,
            output_format=opts.output_format,
            background=opts.background,
            usage=step.usage or self.usage_for(call.request, partials),
            request_id=f"req_{self._seq}",
            latency_ms=int(latency * 1000),
            partial_images=partials,
        )

    def _resolved(self, request: ImageRequest) -> tuple[str, str]:
        size = request.options.size
        quality = request.options.quality
        return "1024x1024" if size == "auto" else size, "medium" if quality == "auto" else quality

    def usage_for(self, request: ImageRequest, partials: int) -> TokenUsage:
        """What the provider would bill, from the fake's own model table."""
        model = MODELS[request.options.model]
        size, quality = self._resolved(request)
        high = model.always_high_fidelity or request.options.input_fidelity == "high"
        image_in = sum(
            input_image_tokens(i.width, i.height, high_fidelity=high) for i in request.images
        )
        out = model.tokens_for(size, quality) + partials * model.partial_image_tokens
        return TokenUsage(
            text_input=text_tokens(request.prompt),
            image_input=image_in,
            image_output=request.options.n * out,
        )

    def _tokens(self, request: ImageRequest) -> int:
        """The tokens a call counts against TPM: what it would bill, partial images included."""
        usage = self.usage_for(request, request.options.partial_images)
        return usage.text_input + usage.image_input + usage.image_output

    def _over_limit(self, call: Call) -> bool:
        recent = [c for c in self.accepted if c is not call and c.at > call.at - self.window]
        images = sum(c.request.options.n for c in recent) + call.request.options.n
        tokens = sum(c.tokens for c in recent) + call.tokens
        too_many = self.ipm is not None and images > self.ipm
        return too_many or (self.tpm is not None and tokens > self.tpm)
