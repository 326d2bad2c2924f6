"""The Images API client against the loopback fake: round-trips, errors, retries, streaming."""

from __future__ import annotations

import io
import logging
import math
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image

from bot.catalog.models import load_catalog
from bot.catalog.pricing import cost_of, input_image_tokens
from bot.domain import ImageOptions, ImageRequest, InputImage, PartialImage
from bot.errors import (
    AnswerLostError,
    AuthenticationError,
    BillingLimitError,
    InvalidRequestError,
    ModelUnavailableError,
    PromptRejectedError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from bot.provider.images import FailedAttempt, OpenAIImagesClient, build_http_client
from bot.provider.timeouts import ReadTimeouts
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test"


def png(width: int, height: int, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (10, 20, 30, 0)[: len(mode)]).save(out, fmt)
    return out.getvalue()


def gen(prompt: str = "a red fox", **options: object) -> ImageRequest:
    opts = ImageOptions(**{"model": "gpt-image-1", **options})  # type: ignore[arg-type]
    return ImageRequest("generate", prompt, opts)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Ticks:
    """A monotonic clock that moves 0.25 s per reading."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 0.25
        return self.t


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield


@pytest.fixture
async def http(fake_openai: FakeOpenAI) -> AsyncIterator[httpx.AsyncClient]:
    client = build_http_client(
        base_url=fake_openai.base_url, api_key=KEY, organization="org-1", project="proj-1"
    )
    async with client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(http: httpx.AsyncClient, sleeps: Sleeps) -> OpenAIImagesClient:
    return OpenAIImagesClient(http, sleep=sleeps, monotonic=Ticks())


class Attempts(list[FailedAttempt]):
    async def __call__(self, attempt: FailedAttempt) -> None:
        self.append(attempt)


# ---- round trips ---------------------------------------------------------------------------


async def test_generation_round_trip(client: OpenAIImagesClient, fake_openai: FakeOpenAI) -> None:
    request = ImageRequest(
        "generate",
        "a red fox in the snow",
        ImageOptions(model="gpt-image-1", size="1536x1024", quality="low", n=2),
        safety_identifier="u-hash",
    )
    result = await client.run(request)

    assert len(result.images) == 2
    for data in result.images:
        with Image.open(io.BytesIO(data)) as img:
            assert (img.format, img.size) == ("PNG", (1536, 1024))
    assert (result.size, result.quality, result.background) == ("1536x1024", "low", "opaque")
    assert result.usage.image_output == 2 * 400
    assert result.usage.text_input == math.ceil(len(b"a red fox in the snow") / 4) + 6
    assert result.request_id == "req_1"
    assert result.latency_ms == 250
    spec = load_catalog().get("gpt-image-1")
    assert cost_of(spec, result.usage) >= 800 * 40  # 800 image tokens at $40 per 1M, in micro-USD
    sent = fake_openai.requests[0]
    assert sent.authorized
    assert sent.headers["OpenAI-Organization"] == "org-1"
    assert sent.headers["OpenAI-Project"] == "proj-1"
    assert sent.json is not None
    assert sent.json["model"] == "gpt-image-1"
    assert sent.json["safety_identifier"] == "u-hash"
    absent_fields = ("user", "response_format", "stream", "partial_images", "moderation")
    for absent in (*absent_fields, "input_fidelity"):
        assert absent not in sent.json


async def test_generation_sends_low_moderation(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    await client.run(gen(moderation="low"))
    assert fake_openai.requests[0].params["moderation"] == "low"
    assert "user" not in fake_openai.requests[0].params
    assert "safety_identifier" not in fake_openai.requests[0].params


async def test_edit_with_two_images_and_mask(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    first = InputImage(png(1024, 1536), "image/png", 1024, 1536)
    second = InputImage(png(800, 600, fmt="JPEG"), "image/jpeg", 800, 600)
    mask = InputImage(png(1024, 1536, mode="RGBA"), "image/png", 1024, 1536)
    request = ImageRequest(
        "edit",
        "put a hat on the cat",
        ImageOptions(model="gpt-image-1", input_fidelity="high", output_format="webp"),
        images=(first, second),
        mask=mask,
    )
    result = await client.run(request)

    with Image.open(io.BytesIO(result.images[0])) as img:
        assert (img.format, img.size) == ("WEBP", (1024, 1536))  # auto follows the first input
    assert result.size == "1024x1536"
    spec = load_catalog().get("gpt-image-1")
    expected = input_image_tokens(spec, 1024, 1536, high_fidelity=True) + input_image_tokens(
        spec, 800, 600, high_fidelity=True
    )
    assert result.usage.image_input == expected
    sent = fake_openai.requests[0]
    images = sent.files("image[]")
    assert [p.content_type for p in images] == ["image/png", "image/jpeg"]
    assert all(p.filename for p in images)
    assert images[0].data == first.data
    assert [p.content_type for p in sent.files("mask")] == ["image/png"]
    assert sent.form["input_fidelity"] == "high"
    assert "moderation" not in sent.form
    assert all(value != "" for value in sent.form.values())


async def test_edit_without_fidelity_sends_no_fidelity_field(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    image = InputImage(png(1024, 1024), "image/png", 1024, 1024)
    request = ImageRequest(
        "edit", "make it blue", ImageOptions(model="gpt-image-1-mini"), images=(image,)
    )
    result = await client.run(request)
    assert result.size == "1024x1024"
    assert "input_fidelity" not in fake_openai.requests[0].form


# ---- errors --------------------------------------------------------------------------------


async def test_moderation_block_is_a_prompt_rejection(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(PromptRejectedError) as caught:
        await client.run(gen("MODERATION_BLOCK please"))
    assert caught.value.request_id == "req_1"
    assert len(fake_openai.requests) == 1


async def test_rate_limit_is_raised_at_once_with_retry_after(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI, sleeps: Sleeps
) -> None:
    fake_openai.enqueue_failure(429, "rate_limit_exceeded", retry_after=7)
    with pytest.raises(RateLimitedError) as caught:
        await client.run(gen())
    assert caught.value.retry_after == 7.0
    assert len(fake_openai.requests) == 1
    assert sleeps == []


async def test_ipm_limit_of_the_fake_surfaces_as_rate_limited() -> None:
    async with (
        FakeOpenAI(api_key=KEY, ipm=2, clock=lambda: 0.0) as fake,
        build_http_client(
            base_url=fake.base_url, api_key=KEY, organization=None, project=None
        ) as http,
    ):
        client = OpenAIImagesClient(http)
        await client.run(gen(n=2))
        with pytest.raises(RateLimitedError) as caught:
            await client.run(gen())
    assert caught.value.retry_after == 60.0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "insufficient_quota"),
        (400, "billing_hard_limit_reached"),
        (429, "credit_balance_exhausted"),
        (429, "organization_spend_limit_exceeded"),
        (429, "project_usage_limit_exceeded"),
    ],
)
async def test_billing_errors_are_never_retried(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI, status: int, code: str
) -> None:
    fake_openai.enqueue_failure(status, code, times=5)
    with pytest.raises(BillingLimitError) as caught:
        await client.run(gen())
    assert caught.value.code == code
    assert len(fake_openai.requests) == 1


async def test_wrong_key_is_an_authentication_error(fake_openai: FakeOpenAI) -> None:
    async with build_http_client(
        base_url=fake_openai.base_url, api_key="sk-wrong", organization=None, project=None
    ) as http:
        with pytest.raises(AuthenticationError) as caught:
            await OpenAIImagesClient(http).run(gen())
    assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")


async def test_unverified_organization_is_an_authentication_error(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue_failure(403)
    with pytest.raises(AuthenticationError):
        await client.run(gen())
    assert len(fake_openai.requests) == 1


async def test_unknown_and_retired_models_are_unavailable(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(ModelUnavailableError) as caught:
        await client.run(gen(model="gpt-image-9"))
    assert caught.value.model == "gpt-image-9"
    fake_openai.retired_models.add("gpt-image-1")
    with pytest.raises(ModelUnavailableError) as retired:
        await client.run(gen())
    assert (retired.value.model, retired.value.status) == ("gpt-image-1", 404)


async def test_bad_value_is_an_invalid_request_naming_the_param(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI, sleeps: Sleeps
) -> None:
    attempts = Attempts()
    with pytest.raises(InvalidRequestError) as caught:
        await client.run(gen(size="999x999"), on_failed_attempt=attempts)
    assert (caught.value.status, caught.value.param) == (400, "size")
    assert len(fake_openai.requests) == 1
    assert (attempts, sleeps) == ([], [])


async def test_long_upstream_messages_are_truncated(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue_failure(400, body={"error": {"message": "x" * 5000, "code": "odd"}})
    with pytest.raises(InvalidRequestError) as caught:
        await client.run(gen())
    assert len(str(caught.value)) < 400


# ---- retries -------------------------------------------------------------------------------


async def test_a_500_then_success_is_retried_once(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI, sleeps: Sleeps
) -> None:
    fake_openai.enqueue_failure(500)
    attempts = Attempts()
    result = await client.run(gen(), on_failed_attempt=attempts)
    assert result.request_id == "req_2"
    assert len(fake_openai.requests) == 2
    assert [(a.status, a.request_id) for a in attempts] == [(500, "req_1")]
    assert isinstance(attempts[0].error, UpstreamUnavailableError)
    assert attempts[0].latency_ms == 250
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5


async def test_persistent_503_stops_after_max_retries(
    http: httpx.AsyncClient, fake_openai: FakeOpenAI, sleeps: Sleeps
) -> None:
    fake_openai.enqueue_failure(503, times=10)
    attempts = Attempts()
    client = OpenAIImagesClient(http, max_retries=3, backoff_base=1.0, sleep=sleeps)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.run(gen(), on_failed_attempt=attempts)
    assert caught.value.status == 503
    assert len(fake_openai.requests) == 4
    assert len(attempts) == 3
    for slept, step in zip(sleeps, (1.0, 2.0, 4.0), strict=True):  # exponential, jittered
        assert step / 2 <= slept <= step


async def test_read_timeout_is_unavailable_and_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.hang_next(10)
    sleeps = Sleeps()
    async with build_http_client(
        base_url=fake_openai.base_url,
        api_key=KEY,
        organization=None,
        project=None,
    ) as http:
        # quality auto waits as high: 600 s, scaled to 0.2 s
        short = ReadTimeouts(scale=0.2 / 600)
        with pytest.raises(UpstreamUnavailableError) as caught:
            await OpenAIImagesClient(http, sleep=sleeps, timeouts=short).run(gen())
    assert len(fake_openai.requests) == 1  # it may have been billed: never sent twice
    assert sleeps == []
    assert isinstance(caught.value, AnswerLostError) and caught.value.maybe_billed


async def test_dropped_connection_is_unavailable_and_not_retried(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.drop_next()
    with pytest.raises(UpstreamUnavailableError):
        await client.run(gen())
    assert len(fake_openai.requests) == 1


async def test_malformed_success_body_is_unavailable_and_not_retried(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue_failure(200, body="{not json")
    with pytest.raises(UpstreamUnavailableError):
        await client.run(gen())
    assert len(fake_openai.requests) == 1


async def test_connection_refused_is_retried_then_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps, attempts = Sleeps(), Attempts()
    async with build_http_client(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, organization=None, project=None
    ) as http:
        with pytest.raises(UpstreamUnavailableError):
            await OpenAIImagesClient(http, sleep=sleeps).run(gen(), on_failed_attempt=attempts)
    assert len(sleeps) == 2
    assert [a.status for a in attempts] == [None, None]


# ---- streaming -----------------------------------------------------------------------------


async def test_streaming_delivers_partials_then_the_final_image(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    partials: list[PartialImage] = []

    async def on_partial(partial: PartialImage) -> None:
        partials.append(partial)

    fake_openai.sse_done = True
    result = await client.run(gen(partial_images=3, size="1024x1024"), on_partial=on_partial)

    assert [p.index for p in partials] == [0, 1, 2]
    for partial in partials:
        with Image.open(io.BytesIO(partial.data)) as img:
            assert img.size == (1024, 1024)
    assert result.partial_images == 3
    assert len(result.images) == 1
    assert result.usage.image_output == 1056 + 3 * 100
    assert result.request_id == "req_1"
    sent = fake_openai.requests[0].json
    assert sent is not None
    assert (sent["stream"], sent["partial_images"]) == (True, 3)


async def test_streamed_edit_resolves_auto_size_from_the_image(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    partials: list[PartialImage] = []

    async def on_partial(partial: PartialImage) -> None:
        partials.append(partial)
        raise RuntimeError("preview channel is gone")  # must not cost the final image

    image = InputImage(png(1536, 1024), "image/png", 1536, 1024)
    request = ImageRequest(
        "edit", "sunset", ImageOptions(model="gpt-image-1.5", partial_images=1), images=(image,)
    )
    result = await client.run(request, on_partial=on_partial)
    assert len(partials) == 1
    assert result.size == "1536x1024"
    assert fake_openai.requests[0].form["stream"] == "true"


async def test_no_stream_without_a_sink_or_with_several_images(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    async def on_partial(partial: PartialImage) -> None:
        raise AssertionError("not streamed")

    await client.run(gen(partial_images=2))
    await client.run(gen(partial_images=2, n=2), on_partial=on_partial)
    assert all("stream" not in r.params for r in fake_openai.requests)


async def test_error_event_before_any_preview_is_the_providers_answer(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    async def on_partial(partial: PartialImage) -> None:
        return None

    fake_openai.stream_error_next("moderation_blocked", after_partials=0)
    with pytest.raises(PromptRejectedError) as caught:
        await client.run(gen(partial_images=2), on_partial=on_partial)
    assert caught.value.request_id == "req_1"


@pytest.mark.parametrize(
    "event",
    [
        'event: error\ndata: {"code": "moderation_blocked", "message": "Rejected.", "param": null}',
        'data: {"type": "error", "code": "moderation_blocked", "message": "Rejected."}',
    ],
    ids=["event-error", "type-error"],
)
async def test_a_flat_error_event_before_any_preview_is_the_providers_refusal(event: str) -> None:
    """The spec's error event (fields flat, no `error` key) is the provider's answer: refused,
    not billed, never "in doubt" (issue 22, case 17)."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = f"{event}\n\n".encode()
        headers = {"content-type": "text/event-stream", "x-request-id": "req_9"}
        return httpx.Response(200, content=body, headers=headers)

    async def on_partial(partial: PartialImage) -> None:
        return None

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(base_url="https://api.example.test/v1", transport=transport) as h:
        client = OpenAIImagesClient(h, sleep=Sleeps(), monotonic=Ticks())
        with pytest.raises(PromptRejectedError) as caught:
            await client.run(gen(partial_images=2), on_partial=on_partial)
    assert caught.value.request_id == "req_9"
    assert not isinstance(caught.value, AnswerLostError)


async def test_error_event_after_a_preview_is_in_doubt(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    previews: list[PartialImage] = []

    async def on_partial(partial: PartialImage) -> None:
        previews.append(partial)

    fake_openai.stream_error_next("moderation_blocked")
    with pytest.raises(AnswerLostError) as caught:
        await client.run(gen(partial_images=2), on_partial=on_partial)
    assert len(previews) == 1 and caught.value.maybe_billed
    assert caught.value.request_id == "req_1" and caught.value.code == "moderation_blocked"
    assert len(fake_openai.requests) == 1  # never sent again


# ---- models and secrets --------------------------------------------------------------------


async def test_list_models(client: OpenAIImagesClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.retired_models.add("gpt-image-1")
    names = await client.list_models()
    assert "gpt-image-2" in names
    assert "gpt-image-1" not in names


async def test_api_key_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-proj-VERYSECRET0123456789abcdef"
    caplog.set_level(logging.DEBUG)
    async with FakeOpenAI(api_key=secret) as fake:
        http = build_http_client(
            base_url=fake.base_url, api_key=secret, organization=None, project=None
        )
        wrong = build_http_client(
            base_url=fake.base_url, api_key=secret + "x", organization=None, project=None
        )
        async with http, wrong:
            client = OpenAIImagesClient(http, sleep=Sleeps())
            fake.enqueue_failure(500, times=5)
            errors: list[BaseException] = []
            for run in (client.run(gen()), OpenAIImagesClient(wrong).run(gen())):
                with pytest.raises(Exception) as caught:
                    await run
                errors.append(caught.value)
            shown = [repr(client), repr(http), repr(http.headers), caplog.text]
            shown += [str(e) for e in errors] + [repr(e) for e in errors]
    assert "retrying" in caplog.text  # the retries were logged...
    assert all(secret not in text for text in shown)  # ...without the key
    assert all(
        r.levelno < logging.WARNING or "sk-proj" not in r.getMessage() for r in caplog.records
    )


# ---- faults as publicly reported (issue 10) -------------------------------------------------


@pytest.mark.parametrize("status", [502, 504, 524])
async def test_a_proxys_error_page_a_second_later_is_in_doubt(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI, status: int
) -> None:
    fake_openai.gateway_page_next(status, after=0.2)
    with pytest.raises(AnswerLostError) as caught:
        await client.run(gen(quality="low"))
    assert len(fake_openai.requests) == 1
    assert (caught.value.status, caught.value.code) == (status, f"gateway_{status}")
    assert fake_openai.images_served == 1  # the API behind the proxy may well have made it


async def test_a_200_cut_short_is_in_doubt(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.garble_next()
    with pytest.raises(AnswerLostError) as caught:
        await client.run(gen(quality="low"))
    assert caught.value.code == "unreadable_answer" and len(fake_openai.requests) == 1


async def test_an_answer_without_usage_says_so(
    client: OpenAIImagesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.hide_usage = True
    result = await client.run(gen(quality="low"))
    assert result.images and not result.usage_reported
    fake_openai.hide_usage = False
    assert (await client.run(gen(quality="low"))).usage_reported
