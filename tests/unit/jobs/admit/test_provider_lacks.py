"""What the provider in use cannot serve is refused from its profile before anything is queued:
too many images per request (fal), an output format it does not make (Azure), screening without
its moderation (at /config set)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.catalog.models import load_catalog
from bot.domain import Choices
from bot.errors import InvalidOptionError
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from bot.jobs.admit.provider_lacks import check_config, check_provider
from bot.jobs.admit.validation import validate
from bot.jobs.models import Submission
from bot.provider.profiles import load_profile

CATALOG = load_catalog()
SETTINGS = GuildSettings(1, GuildLimits(max_count=10), GuildConfig())
TODAY = date(2026, 11, 16)


def checked(provider: str, **choices: object) -> None:
    s = Submission(1, 2, 3, (), "generate", Choices(prompt="a fox", model="gpt-image-2", **choices))  # type: ignore[arg-type]
    valid = validate(s, SETTINGS, CATALOG, default_model="gpt-image-2", today=TODAY)
    check_provider(load_profile(provider, ""), s, valid, SETTINGS)


def test_a_count_over_the_providers_images_per_request_is_refused_by_name() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        checked("fal", n=5)
    assert "fal.ai makes at most 4 images per request" in str(caught.value)
    checked("fal", n=4)
    checked("openai", n=10)


def test_a_format_the_provider_does_not_make_is_refused_naming_those_it_does() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        checked("azure", output_format="webp")
    assert "Azure OpenAI makes png or jpeg only, not webp" in str(caught.value)
    checked("azure", output_format="jpeg")
    checked("openai", output_format="webp")


@pytest.mark.parametrize(
    ("provider", "screening", "reason"),
    [("vercel", "prompts", "Vercel AI Gateway has no moderation endpoint to screen with"),
     ("fal", "prompts_and_images", "fal.ai has no moderation endpoint to screen with")],
)  # fmt: skip
def test_screening_needs_the_providers_moderation(
    provider: str, screening: str, reason: str
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        check_config(load_profile(provider, ""), {"screening": screening})
    assert reason in str(caught.value)
    check_config(load_profile(provider, ""), {"screening": "off"})
    check_config(load_profile("openai", ""), {"screening": screening})
