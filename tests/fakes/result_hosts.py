"""An httpx transport that sends a provider's result hosts (its CDN) to a loopback fake."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class RoutedHosts(httpx.AsyncBaseTransport):
    """`https://media.example/x` -> `http://127.0.0.1:PORT/x` for each routed host; any other
    host is refused, as a test must never reach the network."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        self._routes = dict(routes)
        self._inner = httpx.AsyncHTTPTransport()
        self.asked: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(str(request.url))
        target = self._routes.get(request.url.host)
        if target is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        request.url = httpx.URL(target).join(request.url.raw_path.decode("ascii"))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
