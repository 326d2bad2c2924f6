"""Styles: how a style's text joins the prompt, its checks, and its length in validation."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.domain import apply_style
from bot.errors import InvalidOptionError
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from bot.jobs.admit.validation import validate
from bot.jobs.safety.styles import check_style
from tests.unit.jobs_harness import catalog, submission


@pytest.mark.parametrize(
    ("prompt", "style", "sent"),
    [
        ("a fox", None, "a fox"),
        ("  a fox ", "", "a fox"),
        ("a fox", "as a film noir still, {prompt}, deep shadows",
         "as a film noir still, a fox, deep shadows"),
        ("a fox", "{prompt}", "a fox"),
        ("a fox", "soft watercolor", "a fox. soft watercolor"),
        ("a fox!", "soft watercolor", "a fox! soft watercolor"),
        ("a fox,", "  soft watercolor ", "a fox, soft watercolor"),
    ],
)  # fmt: skip
def test_the_prompt_goes_at_the_placeholder_or_first(
    prompt: str, style: str | None, sent: str
) -> None:
    assert apply_style(prompt, style) == sent


@pytest.mark.parametrize(
    ("name", "text", "option"),
    [("  ", "x", "name"), ("n" * 33, "x", "name"), ("ok", " ", "prompt"),
     ("ok", "{prompt}", "prompt"), ("ok", "x" * 1001, "prompt")],
)  # fmt: skip
def test_unusable_styles_name_the_option(name: str, text: str, option: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        check_style(name, text)
    assert caught.value.option == option


def settings_with(styles: dict[str, str]) -> GuildSettings:
    return GuildSettings(1, GuildLimits(), GuildConfig(), styles=styles)


def test_validation_carries_the_style_text_and_checks_the_combined_length() -> None:
    settings = settings_with({"Long": "y" * 1000, "Noir": "noir, {prompt}"})
    kw: dict[str, Any] = {"default_model": "gpt-image-2", "today": date(2026, 11, 29)}
    valid = validate(submission(prompt="a fox", style="noir"), settings, catalog(), **kw)
    assert (valid.style, valid.prompt, valid.request_prompt) == ("Noir", "a fox", "noir, a fox")
    fits = validate(submission(prompt="x" * 2998, style="Long"), settings, catalog(), **kw)
    assert len(fits.request_prompt) == 4000
    with pytest.raises(InvalidOptionError) as caught:
        validate(submission(prompt="x" * 3000, style="Long"), settings, catalog(), **kw)
    assert "with the style Long it is 4002 characters" in caught.value.reason
