"""Read timeouts that fit the work: by operation, quality, size and image count."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bot.catalog.fields import parse_size
from bot.domain import ImageRequest

CONNECT_SECONDS = 10.0
WRITE_SECONDS = 60.0  # per write of the body, not the whole upload
POOL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ReadTimeouts:
    """Seconds the client waits for the answer once a request went out.

    A read timeout abandons an answer that may be billed (the call ends in doubt), so these are
    generous. Public reports: gpt-image-1 at high quality and 1536x1024 sometimes over 200 s;
    gpt-image-2 at high quality, and its edits, 60-150 s or more; OpenAI's guide says complex
    prompts take up to 2 minutes (docs/sources.md#images-request). So low quality waits 3
    minutes, medium 5, high and auto (priced as high) 10, every edit at least 10; sizes above
    1536x1024 wait in proportion to their pixels, each image after the first adds a quarter,
    and nothing waits more than `ceiling`. `scale` shrinks every wait (tests only).
    """

    low: float = 180.0
    medium: float = 300.0
    high: float = 600.0
    edit_floor: float = 600.0
    base_pixels: int = 1536 * 1024
    per_extra_image: float = 0.25
    ceiling: float = 1800.0
    scale: float = 1.0

    def read_seconds(self, request: ImageRequest) -> float:
        """The read timeout of one request, in seconds."""
        opts = request.options
        seconds = {"low": self.low, "medium": self.medium}.get(opts.quality, self.high)
        if request.operation == "edit":
            seconds = max(seconds, self.edit_floor)
        parsed = parse_size(opts.size)
        pixels = parsed[0] * parsed[1] if parsed else self.base_pixels
        seconds *= max(1.0, pixels / self.base_pixels)
        seconds *= 1 + self.per_extra_image * max(0, opts.n - 1)
        return min(seconds, self.ceiling) * self.scale

    def for_request(self, request: ImageRequest) -> httpx.Timeout:
        """The httpx timeouts of one request: connect, write and pool fixed, read sized."""
        return httpx.Timeout(
            connect=CONNECT_SECONDS,
            read=self.read_seconds(request),
            write=WRITE_SECONDS,
            pool=POOL_SECONDS,
        )
