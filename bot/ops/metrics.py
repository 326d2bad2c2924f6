"""The bot's Prometheus metrics: live counters the process keeps, and ledger totals per scrape.

Names follow https://prometheus.io/docs/practices/naming/ (base units in names, `_total` on
counters); labels take bounded values only (models, speeds, outcomes, endpoints, guild ids),
never member ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.errors import UserFacingError
from bot.store.ops import OpsTotals

MICRO = 1_000_000
# Discord allows 3 s for the first answer to an interaction; the buckets bracket that limit.
ACK_BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)
# Image calls take from seconds (low quality) to minutes (high quality, large sizes).
API_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 240.0)


class LedgerCollector(Collector):
    """Yields the figures of the latest database read (refreshed before each scrape)."""

    def __init__(self) -> None:
        self.totals = OpsTotals(models=(), queued={}, batches={}, budgets=())

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        t = self.totals
        yield _counter("image_requests", "Image API calls in the ledger", t, "requests")
        yield _counter("images", "Images the API returned, from the ledger", t, "images")
        yield _counter(
            "in_doubt_requests", "Calls whose answer was lost (maybe billed)", t, "in_doubt"
        )
        spend = CounterMetricFamily(
            "imagebot_spend_usd", "Spend recorded in the ledger, in USD", labels=["model", "speed"]
        )
        for m in t.models:
            spend.add_metric([m.model, m.speed], m.micro_usd / MICRO)
        yield spend
        yield _gauge(
            "imagebot_queue_depth", "Jobs waiting to run", "speed", t.queued, ("fast", "relaxed")
        )
        states = ("preparing", "submitted", "ended")
        yield _gauge(
            "imagebot_batches", "Relaxed-speed batches by state", "state", t.batches, states
        )
        left = GaugeMetricFamily(
            "imagebot_guild_budget_remaining_usd",
            "A guild's budget not yet spent or reserved this UTC day or month, in USD",
            labels=["guild", "period"],
        )
        for b in t.budgets:
            left.add_metric([str(b.guild_id), b.period], b.micro_usd / MICRO)
        yield left


def _counter(name: str, doc: str, totals: OpsTotals, field: str) -> CounterMetricFamily:
    family = CounterMetricFamily(f"imagebot_{name}", doc, labels=["model", "speed"])
    for m in totals.models:
        family.add_metric([m.model, m.speed], getattr(m, field))
    return family


def _gauge(
    name: str, doc: str, label: str, values: dict[str, int], always: tuple[str, ...]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key in sorted(set(always) | set(values)):
        family.add_metric([key], values.get(key, 0))
    return family


def refusal_label(error: BaseException) -> str:
    """ "quota_exceeded" for QuotaExceededError, and so on; "error" for anything not user-facing."""
    if not isinstance(error, UserFacingError):
        return "error"
    name = type(error).__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Metrics:
    """Every metric of one bot process, in its own registry (no process-wide singleton)."""

    def __init__(self) -> None:
        # No `*_created` series: they double every counter and histogram and no alert uses them
        # (https://prometheus.github.io/client_python/instrumenting/#disabling-_created-metrics).
        # The switch is the library's own and process-wide; every registry here wants it off.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # the library leaves it unannotated
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ledger = LedgerCollector()
        r.register(self.ledger)
        self.interactions = Counter(
            "imagebot_interactions", "Interactions received, by kind", ["kind"], registry=r
        )
        self.interaction_acks = Counter(
            "imagebot_interaction_acks",
            "First answers to interactions Discord accepted or refused",
            ["outcome"],
            registry=r,
        )
        self.admissions = Counter(
            "imagebot_admissions",
            "Job requests admitted or refused (by reason)",
            ["outcome"],
            registry=r,
        )
        self.acks = Histogram(
            "imagebot_ack_latency_seconds",
            "From an interaction's creation to Discord accepting its first answer",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.api_latency = Histogram(
            "imagebot_provider_request_duration_seconds",
            "Time to the provider's answer (headers), by endpoint",
            ["endpoint"],
            buckets=API_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "imagebot_provider_rate_limited",
            "429 answers from the provider",
            ["endpoint"],
            registry=r,
        )
        self.transport_errors = Counter(
            "imagebot_provider_transport_errors",
            "Requests to the provider that got no answer (refused, timed out, cut)",
            ["endpoint"],
            registry=r,
        )
        self.jobs_finished = Counter(
            "imagebot_jobs_finished",
            "Jobs that reached a final state",
            ["outcome", "speed"],
            registry=r,
        )
        self.gateway_connected = Gauge(
            "imagebot_gateway_connected", "1 while the Discord gateway is connected", registry=r
        )
        self.gateway_latency = Gauge(
            "imagebot_gateway_latency_seconds", "Discord gateway heartbeat round trip", registry=r
        )
        self.dispatcher = Gauge(
            "imagebot_dispatcher",
            "1 while this process holds the dispatcher lease (paces, dispatches, polls batches)",
            registry=r,
        )

    def count_refusal(self, error: BaseException) -> None:
        """A request admission refused: labelled by the error's class (a bounded set)."""
        self.admissions.labels(refusal_label(error)).inc()

    def update(self, totals: OpsTotals, *, connected: bool, latency: float | None) -> None:
        """Take a scrape's database figures and the gateway's state."""
        self.ledger.totals = totals
        self.gateway_connected.set(1 if connected else 0)
        if latency is not None:
            self.gateway_latency.set(latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)
