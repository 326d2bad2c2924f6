"""The OpenAI moderation client: one prompt, or one image with its prompt, per call (free)."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bot.errors import UpstreamError, UpstreamUnavailableError
from bot.provider.failures import parse_retry_after, redact

log = logging.getLogger(__name__)

MODERATION_MODEL = "omni-moderation-latest"  # takes text and images; free [MOD-GUIDE]
# Screening sits in front of admission, where the member waits: a short budget, then fail closed.
MODERATION_TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)


@dataclass(frozen=True, slots=True)
class ModerationVerdict:
    """What the endpoint said: flagged or not, and the flagged categories, highest score first
    (OpenAI's names, e.g. "violence/graphic")."""

    flagged: bool
    categories: tuple[str, ...]
    request_id: str | None = None
    # False when `category_applied_input_types` shows no category applied to the image: a
    # text-only endpoint judged the words alone, so the image was not screened.
    image_judged: bool = True


class ModerationFailedError(UpstreamError):
    """The moderation endpoint answered with an error or something we cannot read."""


class OpenAIModerationClient:
    """`POST /moderations`. At most one image per call: the endpoint refuses two with
    `too_many_images` (docs/sources.md#moderation-limits), so callers send each image in
    its own call, as a data URL (Discord's CDN links expire and OpenAI's fetcher is flaky)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        model: str = MODERATION_MODEL,
        timeout: httpx.Timeout = MODERATION_TIMEOUT,
    ) -> None:
        self._http = http
        self._model = model
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"OpenAIModerationClient(model={self._model!r})"

    async def check(
        self, text: str, image: bytes | None = None, mime: str = "image/jpeg"
    ) -> ModerationVerdict:
        """Moderate a text, or an image together with its text.

        Raises ModerationFailedError (an error answer), RateLimited-like failures included, and
        UpstreamUnavailableError (timeouts, dropped connections): callers fail closed.
        """
        body: dict[str, Any] = {"model": self._model, "input": text}
        if image is not None:
            url = f"data:{mime};base64,{base64.b64encode(image).decode()}"
            body["input"] = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": url}},
            ]
        try:
            response = await self._http.post("moderations", json=body, timeout=self._timeout)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            detail = redact(str(exc)) or type(exc).__name__
            raise UpstreamUnavailableError(f"the moderation endpoint failed: {detail}") from exc
        rid = response.headers.get("x-request-id")
        if response.status_code != 200:
            raise _failure(response, rid)
        try:
            return parse_verdict(response.json(), rid)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModerationFailedError(
                "malformed moderation response", status=200, request_id=rid
            ) from exc


def parse_verdict(payload: dict[str, Any], request_id: str | None) -> ModerationVerdict:
    """`{results: [{flagged, categories{name: bool}, category_scores{name: float}}]}` [OAS]."""
    flagged = False
    scores: dict[str, float] = {}
    for result in payload["results"]:
        flagged = flagged or bool(result["flagged"])
        marked = result.get("categories") or {}
        values = result.get("category_scores") or {}
        for name, on in marked.items():
            if on:
                scores[name] = max(scores.get(name, 0.0), float(values.get(name) or 0.0))
    names = tuple(sorted(scores, key=lambda n: (-scores[n], n)))
    return ModerationVerdict(flagged or bool(names), names, request_id, _image_judged(payload))


def _image_judged(payload: dict[str, Any]) -> bool:
    """Whether any category was applied to an image input (`category_applied_input_types`,
    https://platform.openai.com/docs/api-reference/moderations/object). An answer without the
    field comes from a model that judges text only (the legacy text-moderation models, or a
    gateway in front of one): its images count as not screened."""
    applied = [r.get("category_applied_input_types") for r in payload["results"]]
    if not any(isinstance(a, dict) for a in applied):
        return False
    return any(
        isinstance(types, list) and "image" in types
        for a in applied if isinstance(a, dict)
        for types in a.values()
    )  # fmt: skip


def _failure(response: httpx.Response, request_id: str | None) -> ModerationFailedError:
    code = None
    message = response.text[:200]
    try:
        error = response.json().get("error") or {}
        code = error.get("code")
        message = error.get("message") or message
    except (ValueError, AttributeError):
        pass
    retry = parse_retry_after(response.headers)
    wait = f" (retry after {retry:g} s)" if retry is not None else ""
    return ModerationFailedError(
        f"moderation {response.status_code} {code or 'error'}: {redact(message)}{wait}",
        status=response.status_code,
        code=code,
        request_id=request_id,
    )
