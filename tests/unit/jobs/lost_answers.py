"""In-doubt errors as the provider layer makes them (never built by hand in tests)."""

from __future__ import annotations

import httpx

from bot.errors import UpstreamUnavailableError
from bot.provider.failures import translate_transport_error


def read_timeout_lost() -> UpstreamUnavailableError:
    """What the client raises when the answer to a sent request did not come in time."""
    request = httpx.Request("POST", "https://api.openai.com/v1/images/generations")
    error = translate_transport_error(
        httpx.ReadTimeout("timed out", request=request), read_timeout=600
    )
    assert error.maybe_billed
    return error
