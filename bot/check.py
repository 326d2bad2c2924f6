"""`python -m bot check`: validate settings, database and catalog; optionally ask the API."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

from bot.catalog.models import Catalog, ModelSpec, load_catalog
from bot.catalog.pricing import cost_of, estimate
from bot.clock import Clock, SystemClock
from bot.db import latest_version, open_database
from bot.db.urls import redact
from bot.domain import ImageOptions, ImageRequest
from bot.errors import AccountProblemError, BotError, ConfigError, UpstreamError
from bot.money import format_usd
from bot.ops.startup import OPEN_ERRORS, database_error, postgresql_error
from bot.provider.availability import missing_from_catalog, missing_from_provider
from bot.provider.failures import ConnectFailedError
from bot.provider.images import OpenAIImagesClient, build_http_client
from bot.provider.profile import ProviderProfile
from bot.provider.profiles import load_profile
from bot.reports.usage import HIDDEN_USAGE_DAYS, hidden_usage_line
from bot.settings import Settings
from bot.store.ledger import hidden_usage_since

EXIT_CONFIG = 2  # a setting is wrong: the code start-up exits with (bot/__main__.py)


def _say(line: str) -> None:
    print(line)  # noqa: T201  # this is a command-line report


def _where(settings: Settings) -> str:
    """The database as the report names it (a URL without its password)."""
    if settings.database_url is None:
        return str(settings.database_path)
    return redact(settings.database_url.get_secret_value())


async def run_check(
    settings: Settings, *, online: bool, clock: Clock | None = None, generate: bool = False
) -> int:
    """Print what is in force and any problem; 0 when all is well, 1 otherwise, 2 for a bad
    setting (one line naming it). `clock` says which day it is for the catalog's shutdown
    dates (the system's by default). `generate` (with `online`) also makes one real image
    call, the cheapest the default model offers."""
    clock = clock or SystemClock()
    try:
        catalog = load_catalog(settings.model_catalog)
        profile = load_profile(settings.provider, settings.openai_base_url)
        problems = await _report_database(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc.line}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    problems += _report_catalog(settings, catalog, clock)
    _report_provider(settings, profile)
    offline_only = online and not profile.features.models_list
    if online:
        found = await _check_online(settings, catalog, clock, profile)
        if generate and not found:
            found = await generate_once(settings, catalog.get(settings.image_model), profile)
        problems += found
        await _report_hidden_usage(settings, clock)
    if problems:
        _say(f"{problems} problem{'' if problems == 1 else 's'} found")
    else:
        _say(f"ok (not checked online: {profile.title})" if offline_only else "ok")
    return 0 if problems == 0 else 1


async def _report_database(settings: Settings) -> int:
    """The database and its schema, read only: on PostgreSQL other processes, maybe of an
    older version, run on it, so migrations are left to the bot's start-up (a newer schema,
    which the bot runs on, is said as such); ConfigError when it cannot be opened."""
    latest = latest_version()
    try:
        async with open_database(settings.database, migrating=False) as db:
            version = await db.schema_version()
    except OPEN_ERRORS as exc:
        if settings.database_url is not None:
            raise postgresql_error(settings.database_url.get_secret_value(), 0, exc) from None
        raise database_error(settings.database_path, exc) from None
    where = _where(settings)
    if version > latest:  # a newer process migrated it: this one starts on it all the same
        _say(f"database: {where} (schema version {version}, newer than this version's "
             f"{latest}: a newer version of the bot migrated it)")  # fmt: skip
        return 0
    pending = latest - version
    if pending:
        s = "" if pending == 1 else "s"
        _say(f"database: {where} (schema version {version}; {pending} migration{s} pending "
             f"up to {latest}: the bot applies them when it starts)")  # fmt: skip
    else:
        _say(f"database: {where} (schema version {version})")
    return 0


def _report_catalog(settings: Settings, catalog: Catalog, clock: Clock) -> int:
    today = clock.now().date()
    problems = 0
    _say(f"catalog: {', '.join(catalog.names())} (prices {catalog.version})")
    try:
        model = catalog.get(settings.image_model)
    except BotError:
        _say(f"problem: IMAGE_MODEL {settings.image_model} is not in the catalog")
        return 1
    _say(f"model: {model.name}")
    for spec in catalog.retired(today):
        hint = f"; use {spec.replacement}" if spec.replacement else ""
        _say(f"retired: {spec.name} shut down on {spec.shutdown}{hint}")
        if spec.name == model.name:
            problems += 1
    return problems


async def _report_hidden_usage(settings: Settings, clock: Clock) -> None:
    """Whether the provider's recent answers carried `usage` (from the ledger: a probe would be
    a paid call)."""
    since = clock.now() - timedelta(days=HIDDEN_USAGE_DAYS)
    async with open_database(settings.database, migrating=False) as db:
        if await db.schema_version() != latest_version():
            return  # an older schema may lack what the ledger query reads
        line = hidden_usage_line(await hidden_usage_since(db, since))
    if line is not None:
        _say(f"usage: {line}")


def _report_provider(settings: Settings, profile: ProviderProfile) -> None:
    """Which dialect is spoken where, how it is paced (only what applies to it), and what that
    provider lacks (refused to members by name)."""
    _say(f"provider: {profile.title} ({profile.source}) at {redact(settings.openai_base_url)}")
    pacing = profile.pacing
    if pacing.mode == "ipm_tpm":
        _say(f"rate limits: {settings.ipm} images/min, {settings.tpm} tokens/min")
    elif pacing.mode == "concurrency":
        _say(f"rate limits: {pacing.concurrency} requests at once ({profile.title}'s limit)")
    else:
        _say(f"rate limits: none ({profile.title} states none)")
    lacking = profile.lacks()
    _say(f"provider lacks: {'; '.join(lacking)}" if lacking else "provider lacks: nothing")


async def _check_online(
    settings: Settings, catalog: Catalog, clock: Clock, profile: ProviderProfile
) -> int:
    if not profile.features.models_list:
        _say(f"online: not checked: {profile.title} has nothing to ask without a paid request; "
             "the key is tried by the first job")  # fmt: skip
        return 0
    http = build_http_client(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value(),
        organization=settings.openai_organization,
        project=settings.openai_project,
        profile=profile,
    )
    async with http:
        try:
            names = await OpenAIImagesClient(http, profile=profile).list_models()
        except BotError as exc:
            _say(f"problem: {describe_failure(settings, exc)}")
            return 1
    _report_availability(catalog, names, clock)
    if settings.image_model not in names:
        _say(f"problem: the API does not list {settings.image_model}")
        return 1
    _say(f"online: key works; {settings.image_model} is available")
    return 0


def _report_availability(catalog: Catalog, names: list[str], clock: Clock) -> None:
    """What members will not be offered, and what the catalog could add."""
    today = clock.now().date()
    for name in missing_from_provider(catalog.names(), names):
        retired = " (retired)" if catalog.get(name).is_retired(today) else ""
        _say(f"not offered by the API: {name}{retired}; members will not be offered it")
    for name in missing_from_catalog(catalog.names(), names):
        _say(f"offered by the API, not in the catalog: {name} (add it with MODEL_CATALOG)")


log = logging.getLogger(__name__)
PROBE_PROMPT = "a small grey circle on a white background"


def describe_failure(settings: Settings, error: BotError) -> str:
    """One line naming what went wrong: nothing answered, the account's cause, or the refusal."""
    if isinstance(error, ConnectFailedError) or (
        isinstance(error, UpstreamError) and error.status is None and not error.maybe_billed
    ):
        return f"no answer from {settings.openai_base_url} ({error})"
    if isinstance(error, AccountProblemError):
        return f"{error.summary}. The provider said: {error.words or 'nothing'}"
    return f"the API refused: {error}"


def cheapest(spec: ModelSpec) -> tuple[ImageOptions, int]:
    """The model's cheapest listed size and quality, and its upper-bound cost in micro-USD."""
    qualities = [q for q in spec.qualities if q != "auto"]
    priced = [
        (estimate(spec, options, prompt=PROBE_PROMPT).micro_usd, options)
        for size in spec.resolved_sizes()
        for quality in qualities
        for options in [ImageOptions(model=spec.name, size=size, quality=quality)]  # type: ignore[arg-type]
    ]
    cost, options = min(priced, key=lambda pair: pair[0])
    return options, cost


async def generate_once(
    settings: Settings, spec: ModelSpec, profile: ProviderProfile | None = None
) -> int:
    """One real, paid image call (the default model's cheapest); 0 when it worked, else 1.

    /models answers for an organization that is not verified, so only an image call shows it.
    """
    if profile is not None and profile.api != "images":
        _say(f"generate: not tried through {profile.title}'s own API; the first job tries it")
        return 0
    options, most = cheapest(spec)
    _say(
        f"generate: one real image call, {spec.name} {options.size} {options.quality}, "
        f"at most {format_usd(most)}"
    )
    http = build_http_client(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value(),
        organization=settings.openai_organization,
        project=settings.openai_project,
        profile=profile,
    )
    async with http:
        try:
            result = await OpenAIImagesClient(http, max_retries=0, profile=profile).run(
                ImageRequest("generate", PROBE_PROMPT, options)
            )
        except BotError as exc:
            _say(f"problem: {describe_failure(settings, exc)}")
            return 1
    cost = cost_of(spec, result.usage)
    log.info("check --generate: one image, %s, request %s", format_usd(cost), result.request_id)
    _say(f"generate: an image came back; it cost {format_usd(cost)} (request {result.request_id})")
    return 0
