"""Pure parsing of the Images API wire format: usage, Retry-After, SSE and error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.domain import ImageOptions, ImageRequest, TokenUsage
from bot.errors import (
    AnswerLostError,
    AuthenticationError,
    BillingLimitError,
    InvalidRequestError,
    ModelUnavailableError,
    PromptRejectedError,
    RateLimitedError,
    UpstreamError,
    UpstreamUnavailableError,
)
from bot.provider.failures import parse_retry_after, translate_error
from bot.provider.wire import (
    MalformedResponseError,
    SseEvent,
    build_result,
    iter_sse,
    parse_usage,
    stream_error,
)


def test_usage_with_full_details() -> None:
    usage = parse_usage(
        {
            "input_tokens": 50,
            "output_tokens": 70,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
            "output_tokens_details": {"image_tokens": 60, "text_tokens": 10},
        }
    )
    assert usage == TokenUsage(text_input=10, image_input=40, image_output=60, text_output=10)


def test_usage_without_output_details_is_all_image_output() -> None:
    usage = parse_usage(
        {"input_tokens": 12, "output_tokens": 1056, "input_tokens_details": {"text_tokens": 12}}
    )
    assert (usage.text_input, usage.image_output, usage.text_output) == (12, 1056, 0)


def test_cached_total_is_attributed_to_text_first() -> None:
    usage = parse_usage(
        {
            "input_tokens": 300,
            "output_tokens": 0,
            "input_tokens_details": {"text_tokens": 100, "image_tokens": 200, "cached_tokens": 150},
        }
    )
    assert (usage.cached_text_input, usage.cached_image_input) == (100, 50)


def test_cached_split_is_used_when_given() -> None:
    usage = parse_usage(
        {
            "input_tokens_details": {
                "text_tokens": 100,
                "image_tokens": 200,
                "cached_tokens": 150,
                "cached_tokens_details": {"text_tokens": 20, "image_tokens": 130},
            },
        }
    )
    assert (usage.cached_text_input, usage.cached_image_input) == (20, 130)


@pytest.mark.parametrize("junk", [None, "x", {"input_tokens": "many"}, {"output_tokens": -5}])
def test_junk_usage_is_zero(junk: object) -> None:
    assert parse_usage(junk) == TokenUsage()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        (
            {
                "retry-after": "Sat, 21 Nov 2026 13:01:30 GMT",
                "date": "Sat, 21 Nov 2026 13:01:00 GMT",
            },
            30.0,
        ),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers)) == expected


def _body(code: str | None, message: str = "m", err_type: str = "invalid_request_error") -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": err_type, "param": None, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "code", "message", "cls"),
    [
        (400, "moderation_blocked", "rejected", PromptRejectedError),
        (400, "content_policy_violation", "rejected", PromptRejectedError),
        (429, "rate_limit_exceeded", "slow down", RateLimitedError),
        (429, "insufficient_quota", "quota", BillingLimitError),
        (400, "billing_hard_limit_reached", "billing", BillingLimitError),
        (429, "organization_spend_limit_exceeded", "spend", BillingLimitError),
        (401, "invalid_api_key", "bad key", AuthenticationError),
        (403, None, "Country, region, or territory not supported", AuthenticationError),
        (400, None, "Your organization must be verified to use the model", AuthenticationError),
        (404, None, "not here", ModelUnavailableError),
        (400, None, "The model `dall-e-3` has been deprecated", ModelUnavailableError),
        (400, "invalid_value", "Invalid value", InvalidRequestError),
        (500, None, "oops", UpstreamUnavailableError),
        # a gateway's 502 may hide a finished, billed image: in doubt (issue 10)
        (502, None, "<html>bad gateway</html>", AnswerLostError),
    ],
)
def test_error_mapping(status: int, code: str | None, message: str, cls: type) -> None:
    error = translate_error(
        status, _body(code, message), httpx.Headers(), model="gpt-image-1", request_id="req_9"
    )
    assert type(error) is cls
    if isinstance(error, UpstreamError):
        assert (error.status, error.request_id) == (status, "req_9")


def test_error_messages_are_short_and_keyless() -> None:
    body = _body(
        "invalid_api_key", "Incorrect API key provided: sk-proj-abcdefgh1234. " + "y" * 900
    )
    error = translate_error(401, body, httpx.Headers(), model="m", request_id=None)
    assert "sk-proj-abcdefgh1234" not in str(error)
    assert len(str(error)) < 400


def test_non_json_error_body_keeps_the_status() -> None:
    error = translate_error(
        503, b"<html>overloaded</html>", httpx.Headers(), model="m", request_id=None
    )
    assert isinstance(error, UpstreamUnavailableError)
    assert error.status == 503


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_sse_events_with_comments_multiline_data_and_done() -> None:
    events = [
        e
        async for e in iter_sse(
            _lines(
                ": keep-alive",
                "event: image_generation.partial_image",
                'data: {"type": "image_generation.partial_image",',
                'data: "partial_image_index": 0}',
                "",
                'data: {"type": "image_generation.completed"}',
                "",
                "data: [DONE]",
                "",
            )
        )
    ]
    assert events[0] is not None
    assert (events[0].event, events[0].data["partial_image_index"]) == (
        "image_generation.partial_image",
        0,
    )
    assert events[1] is not None
    assert events[1].event == "image_generation.completed"  # name taken from `type`
    assert events[2] is None


async def test_sse_rejects_non_json_data() -> None:
    with pytest.raises(MalformedResponseError):
        _ = [e async for e in iter_sse(_lines("data: {oops", ""))]


@pytest.mark.parametrize(
    ("usage", "reported"),
    [
        ({"input_tokens": 10, "output_tokens": 272, "total_tokens": 282}, True),
        (None, False),  # a gateway that drops `usage`
        ({"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}, False),  # LocalAI's zeros
    ],
)
def test_a_result_says_whether_the_provider_reported_usage(
    usage: dict[str, int] | None, reported: bool
) -> None:
    payload: dict[str, object] = {"created": 1, "size": "1024x1024", "quality": "low"}
    if usage is not None:
        payload["usage"] = usage
    request = ImageRequest("generate", "a fox", ImageOptions(model="gpt-image-2"))
    result = build_result(payload, (b"img",), request, request_id=None, latency_ms=1, status=200)
    assert result.usage_reported is reported


# ---- streamed errors (issue 22, case 17) ---------------------------------------------------

FLAT = {"code": "moderation_blocked", "message": "Your request was rejected.", "param": None}


@pytest.mark.parametrize(
    "event",
    [
        SseEvent("error", {**FLAT}),  # `event: error` with the error's fields flat
        SseEvent("error", {"type": "error", **FLAT, "sequence_number": 3}),
        SseEvent("", {"type": "error", **FLAT}),  # no event name, `type` says it
        SseEvent("image_generation.completed", {"error": {**FLAT}}),  # openai-python's rule
    ],
    ids=["event-error", "typed-event", "type-only", "nested"],
)
def test_every_documented_error_event_shape_is_recognised(event: SseEvent) -> None:
    assert stream_error(event) == FLAT


def test_image_events_are_not_errors() -> None:
    partial = {"type": "image_generation.partial_image", "b64_json": "AAAA"}
    assert stream_error(SseEvent("image_generation.partial_image", partial)) is None
    assert stream_error(SseEvent("image_edit.completed", {"error": None, "b64_json": "A"})) is None
