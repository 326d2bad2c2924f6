"""WatchedTransport: bounded endpoint labels, 429s counted, reachability follows the answers."""

from __future__ import annotations

import httpx
import pytest

from bot.ops.metrics import Metrics
from bot.ops.provider_watch import ProviderWatch, WatchedTransport, endpoint_of


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://api.openai.com/v1/images/edits", "images/edits"),
        ("https://gw.example/openai/v1/batches/batch_abc123", "batches"),
        ("https://api.openai.com/v1/files/file-xyz/content", "files"),
        ("https://api.openai.com/v1/organization/costs?start_time=1", "organization/costs"),
        ("https://api.openai.com/v1/members/123456789", "other"),
    ],
)
def test_endpoints_are_bounded_labels(url: str, endpoint: str) -> None:
    assert endpoint_of(httpx.URL(url)) == endpoint


async def test_answers_and_failures_are_recorded() -> None:
    script: list[int | Exception] = [429, httpx.ConnectError("refused"), 200]

    def answer(request: httpx.Request) -> httpx.Response:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, json={})

    metrics, watch = Metrics(), ProviderWatch()
    transport = WatchedTransport(httpx.MockTransport(answer), watch, metrics)
    async with httpx.AsyncClient(transport=transport, base_url="http://x/v1/") as http:
        assert watch.reachable() is None
        await http.post("images/generations")
        assert watch.reachable() is True
        with pytest.raises(httpx.ConnectError):
            await http.get("models")
        assert watch.reachable() is False
        await http.get("models")
        assert watch.reachable() is True
    value = metrics.registry.get_sample_value
    assert value("imagebot_provider_rate_limited_total", {"endpoint": "images/generations"}) == 1
    assert value("imagebot_provider_transport_errors_total", {"endpoint": "models"}) == 1
    count = "imagebot_provider_request_duration_seconds_count"
    assert value(count, {"endpoint": "models"}) == 1
