"""The classification table: every failed call by what the provider surely did (issue 10)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from bot.domain import ImageOptions, ImageRequest, PartialImage
from bot.errors import (
    AnswerLostError,
    InvalidRequestError,
    PromptRejectedError,
    RateLimitedError,
    UpstreamError,
    UpstreamUnavailableError,
)
from bot.provider.failures import ConnectFailedError, Fate, fate
from bot.provider.images import OpenAIImagesClient
from bot.provider.timeouts import ReadTimeouts

Handler = Callable[[httpx.Request], httpx.Response]
NGINX_504 = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
CLOUDFLARE_524 = (
    b"<!DOCTYPE html><html><head><title>api.example.com | 524: A timeout occurred</title>"
    b"</head><body>The origin web server timed out responding to this request.</body></html>"
)


def _json(status: int, code: str | None, message: str = "m") -> Handler:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    return lambda request: httpx.Response(status, json=body)


def _page(status: int, body: bytes) -> Handler:
    return lambda request: httpx.Response(
        status, content=body, headers={"content-type": "text/html"}
    )


def _raises(cls: type[Exception]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise cls("scripted", request=request)  # type: ignore[call-arg]

    return handler


def _ok(body: bytes) -> Handler:
    return lambda request: httpx.Response(
        200, content=body, headers={"content-type": "application/json"}
    )


# (case, handler, fate, requests sent with two retries allowed, error class)
TABLE: list[tuple[str, Handler, Fate, int, type[UpstreamError]]] = [
    ("connect refused", _raises(httpx.ConnectError), "not_sent", 3, ConnectFailedError),
    ("connect timeout", _raises(httpx.ConnectTimeout), "not_sent", 3, ConnectFailedError),
    ("pool timeout", _raises(httpx.PoolTimeout), "not_sent", 3, ConnectFailedError),
    ("body never fully sent", _raises(httpx.WriteError), "not_sent", 3, ConnectFailedError),
    ("JSON 500", _json(500, None), "answered", 3, UpstreamUnavailableError),
    ("JSON 503 overloaded", _json(503, None), "answered", 3, UpstreamUnavailableError),
    ("JSON 400", _json(400, "invalid_value"), "answered", 1, InvalidRequestError),
    ("JSON 429", _json(429, "rate_limit_exceeded"), "answered", 1, RateLimitedError),
    (
        "a proxy's own 413 page",
        _page(413, b"<html>too large</html>"),
        "answered",
        1,
        InvalidRequestError,
    ),
    ("read timeout", _raises(httpx.ReadTimeout), "in_doubt", 1, AnswerLostError),
    (
        "dropped after sending",
        _raises(httpx.RemoteProtocolError),
        "in_doubt",
        1,
        AnswerLostError,
    ),
    ("connection reset while reading", _raises(httpx.ReadError), "in_doubt", 1, AnswerLostError),
    (
        "nginx 502 page",
        _page(502, b"<html>502 Bad Gateway</html>"),
        "in_doubt",
        1,
        AnswerLostError,
    ),
    ("nginx 504 page", _page(504, NGINX_504), "in_doubt", 1, AnswerLostError),
    ("cloudflare 524 page", _page(524, CLOUDFLARE_524), "in_doubt", 1, AnswerLostError),
    (
        "a gateway's JSON 502",
        _json(502, "ALL_PROVIDERS_EXHAUSTED"),
        "in_doubt",
        1,
        AnswerLostError,
    ),
    (
        "HTML 500 page",
        _page(500, b"<html>Internal Server Error</html>"),
        "in_doubt",
        1,
        AnswerLostError,
    ),
    (
        "HTML 503 page",
        _page(503, b"<html>Service Unavailable</html>"),
        "in_doubt",
        1,
        AnswerLostError,
    ),
    ("2xx not JSON", _ok(b"<html>ok</html>"), "in_doubt", 1, AnswerLostError),
    (
        "2xx cut short",
        _ok(b'{"created": 1, "data": [{"b64_json": "iVBO'),
        "in_doubt",
        1,
        AnswerLostError,
    ),
    (
        "2xx without images",
        _ok(json.dumps({"created": 1, "data": []}).encode()),
        "in_doubt",
        1,
        AnswerLostError,
    ),
]


class _NoSleep:
    async def __call__(self, seconds: float) -> None:
        return None


@pytest.mark.parametrize(
    ("handler", "expected", "sent", "cls"),
    [pytest.param(h, f, n, c, id=case) for case, h, f, n, c in TABLE],
)
async def test_each_failure_is_classified_by_what_the_provider_surely_did(
    handler: Handler, expected: Fate, sent: int, cls: type[UpstreamError]
) -> None:
    requests: list[httpx.Request] = []

    def counting(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    transport = httpx.MockTransport(counting)
    async with httpx.AsyncClient(base_url="https://api.example.com/v1/", transport=transport) as h:
        client = OpenAIImagesClient(h, max_retries=2, sleep=_NoSleep())
        request = ImageRequest("generate", "a fox", ImageOptions(model="gpt-image-2"))
        with pytest.raises(UpstreamError) as caught:
            await client.run(request)
    error = caught.value
    assert type(error) is cls
    assert fate(error) == expected
    assert len(requests) == sent  # in doubt: never sent twice
    assert error.maybe_billed is (expected == "in_doubt")
    if isinstance(error, AnswerLostError):
        assert error.reason and "nothing" not in error.reason


async def test_a_gateway_page_is_named_by_its_status_and_title() -> None:
    transport = httpx.MockTransport(_page(504, NGINX_504))
    async with httpx.AsyncClient(base_url="https://api.example.com/v1/", transport=transport) as h:
        client = OpenAIImagesClient(h, sleep=_NoSleep())
        with pytest.raises(AnswerLostError) as caught:
            await client.run(ImageRequest("generate", "x", ImageOptions(model="gpt-image-2")))
    assert caught.value.code == "gateway_504"
    assert "504" in caught.value.reason and "gateway" in caught.value.reason
    assert "504 Gateway Time-out" in str(caught.value) and "<html>" not in str(caught.value)


async def test_a_read_timeout_says_how_long_the_bot_waited() -> None:
    transport = httpx.MockTransport(_raises(httpx.ReadTimeout))
    async with httpx.AsyncClient(base_url="https://api.example.com/v1/", transport=transport) as h:
        client = OpenAIImagesClient(h, sleep=_NoSleep())
        edit = ImageRequest("generate", "x", ImageOptions(model="gpt-image-2", quality="high"))
        with pytest.raises(AnswerLostError) as caught:
            await client.run(edit)
    assert caught.value.reason == "the image service did not answer within 10 minutes"


def _request(operation: str = "generate", **options: object) -> ImageRequest:
    opts = ImageOptions(**{"model": "gpt-image-2", **options})  # type: ignore[arg-type]
    return ImageRequest(operation, "a fox", opts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "seconds"),
    [
        (_request(quality="low", size="1024x1024"), 180),
        (_request(quality="medium", size="1024x1024"), 300),
        (_request(quality="high", size="1536x1024"), 600),  # reported over 200 s
        (_request(quality="auto", size="auto"), 600),  # auto may resolve to high
        (_request("edit", quality="low", size="1024x1024"), 600),  # edits: 60-150 s or more
        (_request(quality="high", size="2048x2048"), 1600),  # in proportion to the pixels
        (_request(quality="high", size="3840x2160", n=4), 1800),  # never above the ceiling
        (_request(quality="low", size="1024x1024", n=3), 270),
    ],
)
def test_read_timeouts_fit_the_work(request_: ImageRequest, seconds: float) -> None:
    timeouts = ReadTimeouts()
    assert timeouts.read_seconds(request_) == pytest.approx(seconds, rel=0.01)
    assert timeouts.for_request(request_).read == pytest.approx(seconds, rel=0.01)


def test_edits_and_high_quality_wait_at_least_ten_minutes() -> None:
    timeouts = ReadTimeouts()
    for request in (_request("edit", quality="low"), _request(quality="high", size="1024x1024")):
        assert timeouts.read_seconds(request) >= 600


def _sse(*events: dict[str, object]) -> Handler:
    """A 200 event stream of these events, as the Images API streams with `partial_images`."""
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return lambda request: httpx.Response(
        200, content=text.encode(), headers={"content-type": "text/event-stream"}
    )


PREVIEW = {
    "type": "image_generation.partial_image",
    "b64_json": base64.b64encode(b"a preview's bytes").decode(),
    "partial_image_index": 0,
}


def _error_event(code: str) -> dict[str, object]:
    kind = "image_generation_user_error" if code == "moderation_blocked" else "server_error"
    return {"type": "error", "error": {"message": "m", "type": kind, "param": None, "code": code}}


# (case, stream, fate, error class): a streamed preview is work the provider already did.
STREAMS: list[tuple[str, Handler, Fate, type[Exception]]] = [
    ("refused first", _sse(_error_event("moderation_blocked")), "answered", PromptRejectedError),
    (
        "server error first",
        _sse(_error_event("server_error")),
        "answered",
        UpstreamUnavailableError,
    ),
    (
        "server error after a preview",
        _sse(PREVIEW, _error_event("server_error")),
        "in_doubt",
        AnswerLostError,
    ),
    (
        "refused after a preview",
        _sse(PREVIEW, _error_event("moderation_blocked")),
        "in_doubt",
        AnswerLostError,
    ),
    ("cut after a preview", _sse(PREVIEW), "in_doubt", AnswerLostError),
]


@pytest.mark.parametrize(
    ("handler", "expected", "cls"), [pytest.param(h, f, c, id=case) for case, h, f, c in STREAMS]
)
async def test_a_stream_error_is_in_doubt_once_a_preview_was_streamed(
    handler: Handler, expected: Fate, cls: type[Exception]
) -> None:
    requests: list[httpx.Request] = []
    previews: list[PartialImage] = []

    def counting(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    async def on_partial(partial: PartialImage) -> None:
        previews.append(partial)

    transport = httpx.MockTransport(counting)
    async with httpx.AsyncClient(base_url="https://api.example.com/v1/", transport=transport) as h:
        client = OpenAIImagesClient(h, max_retries=2, sleep=_NoSleep())
        options = ImageOptions(model="gpt-image-2", partial_images=2)
        with pytest.raises((UpstreamError, PromptRejectedError)) as caught:
            await client.run(ImageRequest("generate", "a fox", options), on_partial=on_partial)
    error = caught.value
    assert type(error) is cls
    assert isinstance(error, UpstreamError | PromptRejectedError) and fate(error) == expected
    assert len(requests) == 1
    if expected == "in_doubt":
        assert isinstance(error, AnswerLostError) and error.maybe_billed and len(previews) == 1
        assert "nothing" not in error.reason
