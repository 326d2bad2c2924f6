"""The operations kit one bot process builds: metrics, the provider watch, the HTTP server."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.db import Database
from bot.ops.metrics import Metrics
from bot.ops.provider_watch import ProviderWatch
from bot.ops.readiness import Readiness
from bot.ops.server import OpsServer
from bot.store.ops import ops_totals

# (connected, heartbeat latency in seconds or None while unknown)
GatewayState = Callable[[], tuple[bool, float | None]]


@dataclass(slots=True)
class OpsKit:
    """Built with the services; the HTTP server starts only when HTTP_PORT is set."""

    metrics: Metrics = field(default_factory=Metrics)
    watch: ProviderWatch = field(default_factory=ProviderWatch)
    server: OpsServer | None = None

    async def scrape(self, db: Database, clock: Clock, gateway: GatewayState) -> bytes:
        """Read the database's figures and the gateway's state, then render every metric."""
        connected, latency = gateway()
        usable = latency if latency is not None and math.isfinite(latency) else None
        totals = await ops_totals(db, clock.now())
        self.metrics.update(totals, connected=connected, latency=usable)
        return self.metrics.render()

    async def serve(
        self,
        *,
        host: str,
        port: int,
        db: Database,
        clock: Clock,
        gateway: GatewayState,
        dispatching: Callable[[], bool],
        probe: Callable[[], Awaitable[object]],
    ) -> None:
        """Start /healthz, /readyz and /metrics on host:port."""
        readiness = Readiness(
            connected=lambda: gateway()[0],
            dispatching=dispatching,
            db=db,
            watch=self.watch,
            probe=probe,
        )
        self.server = OpsServer(readiness, lambda: self.scrape(db, clock, gateway))
        await self.server.start(host, port)

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
