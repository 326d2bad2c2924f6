"""Tells the operator, once a day per provider and model, that a reported cost passed its hold."""

from __future__ import annotations

import logging
from datetime import date

from bot.clock import Clock

log = logging.getLogger(__name__)


class Overruns:
    """A provider's own cost (a gateway's header or body, a list price) above what was reserved
    for the call: budgets hold only while reservations are upper bounds, and a gateway that adds
    a margin over OpenAI's list needs `[cost] markup_percent` in its profile."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._day: date | None = None
        self._told: set[tuple[str, str]] = set()  # (provider, model) told today

    def note(self, basis: str | None, model: str, cost: int, reserved: int) -> None:
        """Warn when `cost` (micro-USD, from `basis`, "provider: source") exceeds `reserved`."""
        if cost <= reserved:
            return
        today = self._clock.now().date()
        if today != self._day:
            self._day, self._told = today, set()
        provider = (basis or "the provider").partition(":")[0]
        if (provider, model) in self._told:
            return
        self._told.add((provider, model))
        log.warning(
            "%s billed %s micro-USD for a %s call, above the %s reserved for it, so a budget "
            "can be overshot: set [cost] markup_percent in the provider profile to its margin "
            'over OpenAI\'s prices (README "Providers"); told once a day per model',
            provider,
            cost,
            model,
            reserved,
        )
