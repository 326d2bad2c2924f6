"""Downloads URL results at once, only from the profile's result hosts, within size and time."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx

from bot.provider.profile import Results
from bot.provider.wire import MalformedResponseError


class ResultDownloader:
    """Fetches one image URL to bytes. Its own httpx client carries no API key: result hosts are
    CDNs, and a key must never follow a URL that came out of a response body."""

    def __init__(self, http: httpx.AsyncClient, results: Results) -> None:
        self._http = http
        self._results = results

    def __repr__(self) -> str:
        return f"ResultDownloader(hosts={self._results.url_hosts!r})"

    async def fetch(self, url: object) -> bytes:
        """The image's bytes, or MalformedResponseError (the call then stands in doubt)."""
        if not isinstance(url, str):
            raise MalformedResponseError("an image has neither b64_json nor url")
        parts = urlsplit(url)
        if parts.scheme != "https" or not self._results.allows(parts.hostname or ""):
            raise MalformedResponseError(f"an image URL is not on a result host: {parts.hostname}")
        try:
            async with asyncio.timeout(self._results.download_seconds):
                return await self._read(url)
        except TimeoutError:
            raise MalformedResponseError("an image URL did not download in time") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise MalformedResponseError(f"an image URL failed: {type(exc).__name__}") from None

    async def _read(self, url: str) -> bytes:
        cap = self._results.max_bytes
        # No redirects: a hop could leave the allowed hosts.
        async with self._http.stream("GET", url, follow_redirects=False) as response:
            if response.status_code != 200:
                raise MalformedResponseError(f"an image URL answered {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise MalformedResponseError("an image URL is larger than the limit")
            chunks, total = [], 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > cap:  # Content-Length may lie: count what arrives
                    raise MalformedResponseError("an image URL is larger than the limit")
                chunks.append(chunk)
        return b"".join(chunks)
