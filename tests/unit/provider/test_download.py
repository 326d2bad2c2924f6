"""URL results: fetched at once from the profile's result hosts only, within size and time."""

from __future__ import annotations

import httpx
import pytest

from bot.provider.download import ResultDownloader
from bot.provider.profile import Results
from bot.provider.wire import MalformedResponseError

RESULTS = Results(None, ("media.lumenfall.ai", ".fal.media"), max_bytes=1000, download_seconds=5)


def downloader(body: bytes = b"PNGDATA", status: int = 200) -> tuple[ResultDownloader, list[str]]:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        assert "authorization" not in request.headers  # the API key never follows a URL
        return httpx.Response(status, content=body)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return ResultDownloader(http, RESULTS), asked


async def test_a_url_on_a_result_host_is_read_to_bytes() -> None:
    fetch, asked = downloader()
    assert await fetch.fetch("https://v3.fal.media/files/a.png") == b"PNGDATA"
    assert await fetch.fetch("https://media.lumenfall.ai/x.png") == b"PNGDATA"
    assert len(asked) == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://media.lumenfall.ai.evil.example/x.png",
        "http://media.lumenfall.ai/x.png",  # https only
        "https://fal.media.evil/x.png",
        None,
    ],
)
async def test_any_other_url_is_never_fetched(url: str | None) -> None:
    fetch, asked = downloader()
    with pytest.raises(MalformedResponseError):
        await fetch.fetch(url)
    assert asked == []


async def test_a_result_over_the_size_limit_or_not_200_is_refused() -> None:
    fetch, _ = downloader(body=b"x" * 1001)
    with pytest.raises(MalformedResponseError, match="larger than the limit"):
        await fetch.fetch("https://media.lumenfall.ai/big.png")
    fetch, _ = downloader(status=302)
    with pytest.raises(MalformedResponseError, match="answered 302"):
        await fetch.fetch("https://media.lumenfall.ai/moved.png")
