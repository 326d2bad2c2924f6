"""`python -m bot reconcile [--days N]`: the ledger against the organization's usage and costs."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from bot.catalog.models import load_catalog
from bot.db import open_database
from bot.errors import BotError, ConfigError, UpstreamError, UpstreamUnavailableError
from bot.provider.images import build_http_client
from bot.provider.org_keys import KeyMatch, find_bot_key
from bot.provider.organization import CostLine, ImagesUsage, OrganizationClient
from bot.provider.profiles import load_profile
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
    try:
        profile = load_profile(settings.provider, settings.openai_base_url)
    except ConfigError as exc:
        _complain(f"configuration error: {exc.line}")
        return EXIT_CONFIG
    if not profile.features.organization_usage:
        _complain(
            f"reconcile: {profile.title} has no organization usage API to compare the ledger "
            "with; see its own billing pages"
        )
        return EXIT_CONFIG
    if settings.openai_admin_key is None:
        _complain(
            "configuration error: OPENAI_ADMIN_KEY is not set; reconcile needs an organization "
            "admin key (sk-admin-..., platform.openai.com/settings/organization/admin-keys)"
        )
        return EXIT_CONFIG
    end = (now or datetime.now(UTC)).astimezone(UTC)  # a future end_time is refused upstream
    start = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    try:
        catalog = load_catalog(settings.model_catalog)
        async with open_database(settings.database) as db:
            ledger = await ledger_days(db, start, end)
        usage, costs, key = await _provider(settings, start, end)
    except BotError as exc:
        _complain(f"error: {exc}")
        return EXIT_UNREACHABLE
    _say(f"reconcile: {start.date()} to {end.date()} (UTC days), {_scope(settings, key)}")
    result = reconcile(ledger, usage, costs, known=catalog.names(), by_key=key.key_id is not None)
    for line in render(result):
        _say(line)
    _say("agree" if result.agrees else "differ")
    return EXIT_AGREE if result.agrees else EXIT_DIFFER


def _scope(settings: Settings, key: KeyMatch) -> str:
    """What the provider's side covers: the bot's own key, or (falling back) the project or org."""
    if key.key_id is not None:
        return f"the bot's own API key {key.key_id} (project {key.project})"
    scope = f"project {settings.openai_project}" if settings.openai_project else "organization"
    return f"the whole {scope} (bot's API key not identified: {key.why_not})"


async def _identify(client: OrganizationClient, settings: Settings) -> KeyMatch:
    """The bot's key id; an admin key that may not list keys falls back to the whole scope."""
    try:
        return await find_bot_key(
            client, settings.openai_api_key.get_secret_value(), project=settings.openai_project
        )
    except UpstreamUnavailableError:
        raise
    except UpstreamError as exc:
        return KeyMatch(None, None, f"its API keys could not be listed: {exc}")


async def _provider(
    settings: Settings, start: datetime, end: datetime
) -> tuple[list[ImagesUsage], list[CostLine], KeyMatch]:
    assert settings.openai_admin_key is not None
    http = build_http_client(
        base_url=settings.openai_base_url,
        api_key=settings.openai_admin_key.get_secret_value(),
        organization=settings.openai_organization,
        project=None,  # the project is a filter of these endpoints, not a header
    )
    async with http:
        client = OrganizationClient(http)
        key = await _identify(client, settings)
        project, key_id = settings.openai_project, key.key_id
        usage = await client.images_usage(start, end, project=project, key_id=key_id)
        costs = await client.costs(start, end, project=project, key_id=key_id)
    return usage, costs, key
