"""The Files/Batches client and JSONL wire against the fake's Batch API (and the fake's rules)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from bot.domain import ImageOptions, ImageRequest, InputImage
from bot.errors import AuthenticationError, InvalidRequestError, PromptRejectedError
from bot.provider.batch_wire import iter_lines, jobs_metadata, line_outcome, request_line
from bot.provider.batches import OpenAIBatchesClient
from bot.provider.images import build_http_client
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
async def client(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAIBatchesClient]:
    http = build_http_client(
        base_url=fake_openai.base_url, api_key="sk-test", organization=None, project=None
    )
    async with http:
        yield OpenAIBatchesClient(http)


def generation(prompt: str = "a red fox", n: int = 1) -> ImageRequest:
    options = ImageOptions(model="gpt-image-2", size="1024x1024", quality="low", n=n)
    return ImageRequest(operation="generate", prompt=prompt, options=options)


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, "PNG")
    return out.getvalue()


async def run_batch(
    client: OpenAIBatchesClient, requests: dict[str, ImageRequest], endpoint: str
) -> tuple[str, dict[str, dict[str, object]]]:
    jsonl = b"".join(request_line(cid, req) for cid, req in requests.items())
    file_id = await client.upload(jsonl, "batch.jsonl")
    created = await client.create(file_id, endpoint, jobs_metadata("ib-1-abc", [1, 2]))
    assert created.status == "validating"
    info = await client.retrieve(created.id)
    while not info.ended:
        info = await client.retrieve(created.id)
    lines: dict[str, dict[str, object]] = {}
    for output in (info.output_file_id, info.error_file_id):
        if output:
            for line in iter_lines(await client.content(output)):
                lines[line["custom_id"]] = line
    return info.status, lines


async def test_a_generation_batch_returns_images_and_usage_for_each_line(
    client: OpenAIBatchesClient, fake_openai: FakeOpenAI
) -> None:
    requests = {"job-1": generation(n=2), "job-2": generation("MODERATION_BLOCK please")}
    status, lines = await run_batch(client, requests, "/v1/images/generations")
    assert status == "completed"
    ok = line_outcome(lines["job-1"], requests["job-1"])
    assert ok.result is not None and len(ok.result.images) == 2
    assert ok.result.usage.image_output > 0 and ok.result.size == "1024x1024"
    refused = line_outcome(lines["job-2"], requests["job-2"])
    assert isinstance(refused.error, PromptRejectedError) and refused.http_status == 400
    assert not fake_openai.sync_requests  # the synchronous endpoints were never used
    batch = next(iter(fake_openai.batches.batches.values()))
    assert batch.metadata == {"imagebot_batch": "ib-1-abc", "jobs": "1,2"}
    # The input (members' images, for edits) expires in days, not the default 30.
    assert fake_openai.batches.expires[batch.input_file_id] == 3 * 86_400
    # So do its output and error files, which hold the members' results.
    assert fake_openai.batches.output_expires[batch.id] == 3 * 86_400


async def test_edits_go_as_json_bodies_with_data_urls(
    client: OpenAIBatchesClient, fake_openai: FakeOpenAI
) -> None:
    image = InputImage(png((300, 200)), "image/png", 300, 200)
    options = ImageOptions(model="gpt-image-2", size="auto", quality="low")
    request = ImageRequest(operation="edit", prompt="make it green", options=options,
                           images=(image,))  # fmt: skip
    line = json.loads(request_line("job-7", request))
    assert line["url"] == "/v1/images/edits" and line["method"] == "POST"
    assert line["body"]["images"][0]["image_url"].startswith("data:image/png;base64,")
    status, lines = await run_batch(client, {"job-7": request}, "/v1/images/edits")
    outcome = line_outcome(lines["job-7"], request)
    assert status == "completed" and outcome.result is not None
    assert outcome.result.size == "1536x1024"  # the input's landscape orientation
    assert outcome.result.usage.image_input > 0


async def test_an_expired_batch_returns_the_lines_it_ran_and_batch_expired_for_the_rest(
    client: OpenAIBatchesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.batches.expire_next(done_lines=1)
    requests = {f"job-{i}": generation(f"fox {i}") for i in range(3)}
    status, lines = await run_batch(client, requests, "/v1/images/generations")
    assert status == "expired"
    outcomes = [line_outcome(lines[cid], req) for cid, req in requests.items()]
    assert [o.result is not None for o in outcomes] == [True, False, False]
    assert {o.error_code for o in outcomes[1:]} == {"batch_expired"}


async def test_a_batch_found_again_through_the_list_by_its_metadata(
    client: OpenAIBatchesClient, fake_openai: FakeOpenAI
) -> None:
    file_id = await client.upload(request_line("job-1", generation()), "b.jsonl")
    for key in ("ib-1-x", "ib-2-y", "ib-3-z"):
        await client.create(file_id, "/v1/images/generations", jobs_metadata(key, [1]))
    found = await client.list_since(0)
    assert [b.metadata["imagebot_batch"] for b in found] == ["ib-3-z", "ib-2-y", "ib-1-x"]


async def test_a_non_jsonl_upload_and_a_mixed_model_file_are_refused(
    client: OpenAIBatchesClient, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(InvalidRequestError, match=r"Must be \.jsonl"):
        await client.upload(b"{}", "batch.txt")
    other = ImageRequest(operation="generate", prompt="x",
                         options=ImageOptions(model="gpt-image-1.5"))  # fmt: skip
    jsonl = request_line("a", generation()) + request_line("b", other)
    created = await client.create(
        await client.upload(jsonl, "b.jsonl"), "/v1/images/generations", {}
    )
    info = await client.retrieve(created.id)
    assert info.status == "failed" and any("model_mismatch" in e for e in info.errors)


async def test_the_api_key_is_required(fake_openai: FakeOpenAI) -> None:
    async with httpx.AsyncClient(base_url=fake_openai.base_url + "/") as http:
        with pytest.raises(AuthenticationError):
            await OpenAIBatchesClient(http).retrieve("batch_1")


async def test_batch_images_do_not_count_against_the_fakes_ipm(
    client: OpenAIBatchesClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.ipm = 5
    status, _ = await run_batch(client, {"job-1": generation(n=10)}, "/v1/images/generations")
    assert status == "completed" and fake_openai.images_served == 0
    async with httpx.AsyncClient(base_url=fake_openai.base_url + "/",
                                 headers={"Authorization": "Bearer sk-test"}) as http:  # fmt: skip
        body = {"model": "gpt-image-2", "prompt": "x", "n": 5, "quality": "low"}
        assert (await http.post("images/generations", json=body)).status_code == 200
        assert (await http.post("images/generations", json=body)).status_code == 429


async def test_batch_input_files_live_as_long_as_the_provider_requires() -> None:
    sent: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = request.content.decode("latin-1")
        sent.append({"seconds": body.split('name="expires_after[seconds]"')[1].split()[0]})
        return httpx.Response(200, json={"id": "file-1"})

    http = httpx.AsyncClient(base_url="https://x.invalid/", transport=httpx.MockTransport(answer))
    await OpenAIBatchesClient(http).upload(b"{}\n", "a.jsonl")
    await OpenAIBatchesClient(http, input_expiry_days=14).upload(b"{}\n", "a.jsonl")
    assert [s["seconds"] for s in sent] == [str(3 * 86_400), str(14 * 86_400)]


async def test_each_batch_line_names_the_model_as_the_provider_does() -> None:
    uploaded: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        uploaded.append(request.content)
        return httpx.Response(200, json={"id": "file-1"})

    http = httpx.AsyncClient(base_url="https://x.invalid/", transport=httpx.MockTransport(answer))
    deployments = {"gpt-image-2": "prod-images"}
    client = OpenAIBatchesClient(http, model_ids=lambda name: deployments.get(name, name))
    line = b'{"custom_id":"job-1","method":"POST","url":"/v1/images/generations",'
    await client.upload(line + b'"body":{"model":"gpt-image-2","prompt":"a fox"}}\n', "a.jsonl")
    assert b'"model":"prod-images"' in uploaded[0] and b"gpt-image-2" not in uploaded[0]
