"""`python -m bot reconcile [--days N]`: the ledger against the organization's usage and costs."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from bot.catalog.models import load_catalog
from bot.db import open_database
from bot.errors import BotError
from bot.provider.images import build_http_client
from bot.provider.organization import CostLine, ImagesUsage, OrganizationClient
from bot.reports.reconcile import reconcile, render
from bot.settings import Settings
from bot.store.reconcile import ledger_days

EXIT_AGREE, EXIT_DIFFER, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_DAYS = 7


def _say(line: str) -> None:
    print(line)  # noqa: T201  # this is a command-line report


def _complain(line: str) -> None:
    print(line, file=sys.stderr)  # noqa: T201


async def run_reconcile(settings: Settings, *, days: int, now: datetime | None = None) -> int:
    """Print the comparison of the last `days` UTC days (today included, up to now).

    Exit codes: 0 they agree within the printed tolerance, 1 they differ (each difference named
    by day and model), 2 OPENAI_ADMIN_KEY is not set, 3 the provider could not be read.
    """
    if settings.openai_admin_key is None:
        _complain(
            "configuration error: OPENAI_ADMIN_KEY is not set; reconcile needs an organization "
            "admin key (sk-admin-..., platform.openai.com/settings/organization/admin-keys)"
        )
        return EXIT_CONFIG
    end = (now or datetime.now(UTC)).astimezone(UTC)  # a future end_time is refused upstream
    start = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    scope = f"project {settings.openai_project}" if settings.openai_project else "organization"
    _say(f"reconcile: {start.date()} to {end.date()} (UTC days), the whole {scope}")
    try:
        catalog = load_catalog(settings.model_catalog)
        async with open_database(settings.database) as db:
            ledger = await ledger_days(db, start, end)
        usage, costs = await _provider(settings, start, end)
    except BotError as exc:
        _complain(f"error: {exc}")
        return EXIT_UNREACHABLE
    result = reconcile(ledger, usage, costs, known=catalog.names())
    for line in render(result):
        _say(line)
    _say("agree" if result.agrees else "differ")
    return EXIT_AGREE if result.agrees else EXIT_DIFFER


async def _provider(
    settings: Settings, start: datetime, end: datetime
) -> tuple[list[ImagesUsage], list[CostLine]]:
    assert settings.openai_admin_key is not None
    http = build_http_client(
        base_url=settings.openai_base_url,
        api_key=settings.openai_admin_key.get_secret_value(),
        organization=settings.openai_organization,
        project=None,  # the project is a filter of these endpoints, not a header
    )
    async with http:
        client = OrganizationClient(http)
        project = settings.openai_project
        usage = await client.images_usage(start, end, project=project)
        costs = await client.costs(start, end, project=project)
    return usage, costs
