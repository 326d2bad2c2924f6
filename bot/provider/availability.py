"""Which models the provider offers this key: GET /models, asked at start-up and once a day."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from bot.clock import Clock
from bot.errors import BotError

log = logging.getLogger(__name__)

REFRESH_SECONDS = 24 * 3600
ASK_TIMEOUT_SECONDS = 30.0  # start-up waits for this at most; a listing is quick when it works
IMAGE_MODEL_PREFIX = "gpt-image"


class ProviderModels:
    """The provider's model ids, or None until /models has answered once.

    While unknown (never asked, or the first ask failed) every catalog model counts as offered,
    so a gateway without /models still works; a later failure keeps the last list it gave.
    """

    def __init__(self, list_models: Callable[[], Awaitable[list[str]]], clock: Clock) -> None:
        self._list_models = list_models
        self._clock = clock
        self._ids: frozenset[str] | None = None
        self._asked_at: datetime | None = None

    def __repr__(self) -> str:
        known = "unknown" if self._ids is None else f"{len(self._ids)} models"
        return f"ProviderModels({known})"

    @property
    def ids(self) -> frozenset[str] | None:
        """The ids /models listed last time, or None when it never answered."""
        return self._ids

    def offers(self, model: str) -> bool:
        """True when the provider listed `model`, or when its list is unknown."""
        return self._ids is None or model in self._ids

    async def refresh(self) -> bool:
        """Ask /models now; on failure log it once and keep what was known. True on success."""
        try:
            async with asyncio.timeout(ASK_TIMEOUT_SECONDS):
                ids = frozenset(await self._list_models())
        except (BotError, TimeoutError) as exc:
            kept = (
                "offering every catalog model"
                if self._asked_at is None
                else f"keeping its list from {self._asked_at:%Y-%m-%d %H:%M} UTC"
            )
            why = str(exc) or "no answer in time"
            log.warning("could not list the provider's models (%s); %s", why, kept)
            return False
        self._ids, self._asked_at = ids, self._clock.now()
        return True

    async def refresh_daily(self) -> None:
        """Ask again every day, for as long as the bot runs."""
        while True:
            await self._clock.sleep(REFRESH_SECONDS)
            await self.refresh()


def missing_from_provider(catalog: Iterable[str], ids: Iterable[str]) -> list[str]:
    """Catalog models the provider does not list, in catalog order."""
    listed = set(ids)
    return [name for name in catalog if name not in listed]


def missing_from_catalog(catalog: Iterable[str], ids: Iterable[str]) -> list[str]:
    """gpt-image models the provider lists that the catalog lacks (dated snapshots of catalog
    models, e.g. gpt-image-1.5-2025-12-16, are left out), sorted."""
    known = set(catalog)
    extra = []
    for model in ids:
        if not model.startswith(IMAGE_MODEL_PREFIX) or model in known:
            continue
        if any(model.startswith(f"{name}-") and _dated(model[len(name) + 1 :]) for name in known):
            continue
        extra.append(model)
    return sorted(extra)


def _dated(suffix: str) -> bool:
    """True for a snapshot date suffix: YYYY-MM-DD."""
    parts = suffix.split("-")
    return (
        len(parts) == 3 and [len(p) for p in parts] == [4, 2, 2] and all(p.isdigit() for p in parts)
    )
