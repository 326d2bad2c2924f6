"""`check --online` findings in words: why a call failed, and one real image call (--generate)."""

from __future__ import annotations

import logging

from bot.catalog.models import ModelSpec
from bot.catalog.pricing import cost_of, estimate
from bot.domain import ImageOptions, ImageRequest
from bot.errors import AccountProblemError, BotError, UpstreamError
from bot.provider.failures import ConnectFailedError
from bot.provider.images import OpenAIImagesClient, build_http_client
from bot.reports.usage import format_usd
from bot.settings import Settings

log = logging.getLogger(__name__)
PROBE_PROMPT = "a small grey circle on a white background"


def _say(line: str) -> None:
    print(line)  # noqa: T201  # this is a command-line report


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


async def generate_once(settings: Settings, spec: ModelSpec) -> int:
    """One real, paid image call (the default model's cheapest); 0 when it worked, else 1.

    /models answers for an organization that is not verified, so only an image call shows it.
    """
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
    )
    async with http:
        try:
            result = await OpenAIImagesClient(http, max_retries=0).run(
                ImageRequest("generate", PROBE_PROMPT, options)
            )
        except BotError as exc:
            _say(f"problem: {describe_failure(settings, exc)}")
            return 1
    cost = cost_of(spec, result.usage)
    log.info("check --generate: one image, %s, request %s", format_usd(cost), result.request_id)
    _say(f"generate: an image came back; it cost {format_usd(cost)} (request {result.request_id})")
    return 0
