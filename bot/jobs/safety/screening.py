"""Screening with the moderation endpoint before anything is spent: its own pacing; fails closed."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from bot.clock import Clock
from bot.domain import InputImage
from bot.errors import (
    ScreeningFlaggedError,
    ScreeningUnavailableError,
    ScreeningUnsupportedError,
    UpstreamError,
)
from bot.guild_settings import Screening
from bot.imaging.thumbnails import moderation_jpeg
from bot.provider.moderation import ModerationVerdict

log = logging.getLogger(__name__)

RPM_WINDOW = 60.0  # seconds
# How long a screening call may wait for a free slot in the moderation rate limit before the
# job is refused as "screening unavailable": the member is waiting for an answer.
MAX_PACING_WAIT = 5.0


class ModerationBackend(Protocol):
    """The moderation client (bot/provider/moderation.py) or a test double."""

    async def check(
        self, text: str, image: bytes | None = None, mime: str = "image/jpeg"
    ) -> ModerationVerdict: ...


class RequestPacer:
    """At most `rpm` calls in any trailing minute; a call that would wait too long is refused.

    The moderation endpoint has its own limits, separate from the images limits (Tier 1: 500
    RPM; docs/sources.md#moderation-limits), so it never takes the Images pacer's slots.
    """

    def __init__(self, rpm: int, clock: Clock, max_wait: float = MAX_PACING_WAIT) -> None:
        self._rpm = rpm
        self._clock = clock
        self._max_wait = max_wait
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for a slot, or raise ScreeningUnavailableError if that takes over max_wait."""
        async with self._lock:
            now = self._clock.monotonic()
            while self._sent and self._sent[0] <= now - RPM_WINDOW:
                self._sent.popleft()
            if len(self._sent) >= self._rpm:
                wait = self._sent[0] + RPM_WINDOW - now
                if wait > self._max_wait:
                    raise ScreeningUnavailableError(f"moderation rate limit ({self._rpm}/min)")
                await self._clock.sleep(wait)
                self._sent.popleft()
            self._sent.append(self._clock.monotonic())


class Screener:
    """Checks a prompt, and with `prompts_and_images` each input image (one call each, with the
    prompt's text: images alone are not checked for text-only categories such as
    sexual/minors)."""

    def __init__(
        self,
        client: ModerationBackend,
        pacer: RequestPacer,
        *,
        missing: str | None = None,
        images_missing: str | None = None,
    ) -> None:
        self._client = client
        self._pacer = pacer
        # Why the provider cannot screen at all, or cannot screen images (None: it can).
        self._missing = missing
        self._images_missing = images_missing

    async def screen(self, mode: Screening, prompt: str, images: Sequence[InputImage]) -> None:
        """Return if nothing was flagged; raise ScreeningFlaggedError (the first flagged input)
        or ScreeningUnavailableError (no usable answer: screening fails closed)."""
        if mode == "off":
            return
        if self._missing is not None:
            raise ScreeningUnsupportedError(self._missing)
        if mode == "prompts_and_images" and images and self._images_missing is not None:
            raise ScreeningUnsupportedError(self._images_missing)
        verdict = await self._check(prompt, None)
        if verdict.flagged:
            raise ScreeningFlaggedError(verdict.categories, "prompt")
        if mode != "prompts_and_images" or not images:
            return
        jpegs = [await asyncio.to_thread(moderation_jpeg, image) for image in images]
        verdicts = await asyncio.gather(*(self._check(prompt, jpeg) for jpeg in jpegs))
        for number, seen in enumerate(verdicts, start=1):
            if seen.flagged:
                raise ScreeningFlaggedError(seen.categories, f"image {number}")
            if not seen.image_judged:  # fail closed: an unjudged image is not screened
                raise ScreeningUnavailableError(f"the moderation endpoint ignored image {number}")

    async def _check(self, text: str, image: bytes | None) -> ModerationVerdict:
        await self._pacer.acquire()
        try:
            return await self._client.check(text, image)
        except UpstreamError as exc:
            log.warning("screening failed, refusing the job: %r", exc)
            raise ScreeningUnavailableError(str(exc)) from exc
