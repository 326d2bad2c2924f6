"""Running as a service: /healthz, /readyz and /metrics of the real bot against the fakes."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Harness, harness

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until_status(web: httpx.AsyncClient, path: str, status: int, timeout: float):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await web.get(path)
        if response.status_code == status:
            return response
        if loop.time() > deadline:
            raise AssertionError(f"{path} stayed {response.status_code}: {response.text}")
        await asyncio.sleep(0.2)


async def start_with_http(h: Harness) -> httpx.AsyncClient:
    port = free_port()
    await h.start_bot(http_port=port)
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)


async def test_readyz_follows_the_discord_gateway(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        async with await start_with_http(h) as web:
            assert (await web.get("/healthz")).status_code == 200
            await until_status(web, "/readyz", 200, 10)
            await h.discord.refuse_gateway(503)
            refused = await until_status(web, "/readyz", 503, 15)
            assert refused.json() == {
                "status": "not ready",
                "reason": "discord gateway not connected",
            }
            assert "\n" not in refused.text.strip()
            assert (await web.get("/healthz")).status_code == 200, "liveness is not readiness"
            await h.discord.refuse_gateway(None)
            await until_status(web, "/readyz", 200, 45)
        handle = await h.imagine("after the outage", quality="low")
        assert (await h.wait_result(handle)).attachments


async def test_readyz_needs_every_shard_of_the_process(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        port = free_port()
        # Two shards in one process; discord.py's own spacing: the second IDENTIFYs 5 s later.
        await h.start_bot(http_port=port, shard_count=2)
        assert h.bot is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            await until_status(web, "/readyz", 200, 10)
            assert h.discord.gateway.shards() == {(0, 2), (1, 2)}
            shard = h.bot.get_shard(1)
            assert shard is not None
            await shard.disconnect()
            refused = await until_status(web, "/readyz", 503, 15)
            assert refused.json()["reason"] == "discord gateway not connected"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return float(sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls)))


async def test_metrics_agree_with_the_ledger_and_the_providers_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with harness(tmp_path) as h:
        async with await start_with_http(h) as web:
            h.openai.enqueue_failure(429, "rate_limit_exceeded", retry_after=0.2)
            for prompt in ("a fox", "a heron", "a lighthouse"):
                handle = await h.imagine(prompt, quality="low")
                assert (await h.wait_result(handle, timeout=30)).attachments
            refused = await h.imagine("a fox", model="no-such-model")
            assert "no-such-model" in (await h.private_reply(refused)).content
            response = await web.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        samples = _samples(response.text)
        ledger = h.ledger()
        model = ledger[0]["model"]
        assert _total(samples, "imagebot_image_requests_total", model=model) == len(ledger)
        assert _total(samples, "imagebot_images_total") == sum(r["images"] for r in ledger)
        spent = sum(r["cost_micro_usd"] for r in ledger) / 1_000_000
        assert _total(samples, "imagebot_spend_usd_total", speed="fast") == pytest.approx(spent)
        assert spent > 0
        generations = [r for r in h.openai.requests if r.path == "/v1/images/generations"]
        endpoint = {"endpoint": "images/generations"}
        assert _total(samples, "imagebot_provider_rate_limited_total", **endpoint) == 1
        count = "imagebot_provider_request_duration_seconds_count"
        assert _total(samples, count, **endpoint) == len(generations) == 4
        assert _total(samples, "imagebot_admissions_total", outcome="admitted") == 3
        assert _total(samples, "imagebot_admissions_total", outcome="model_not_allowed") == 1
        assert _total(samples, "imagebot_jobs_finished_total", outcome="succeeded") == 3
        assert _total(samples, "imagebot_gateway_connected") == 1
        assert _total(samples, "imagebot_dispatcher") == 1  # a lone process holds the lease
        assert _total(samples, "imagebot_queue_depth", speed="fast") == 0
        assert _total(samples, "imagebot_ack_latency_seconds_count") >= 3
        # Received interactions by kind; first answers by outcome: two metrics, no "any" kind.
        assert _total(samples, "imagebot_interactions_total", kind="application_command") == 4
        assert _total(samples, "imagebot_interaction_acks_total", outcome="acknowledged") >= 4
        assert not any(("kind", "any") in labels for _, labels in samples)
        assert "_created" not in response.text, "no *_created series"
        for secret in ("sk-test", h.discord.token):
            assert secret not in response.text
            assert secret not in caplog.text
