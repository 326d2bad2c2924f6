"""Validation of what only a batch line cannot carry: free sizes and long data URLs (relaxed)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.catalog.models import load_catalog
from bot.domain import Choices, InputImage
from bot.errors import InvalidOptionError
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from bot.jobs.admit.validation import validate
from bot.jobs.models import Submission

CATALOG = load_catalog()
SETTINGS = GuildSettings(1, GuildLimits(), GuildConfig(relaxed="allowed"))
TODAY = date(2026, 11, 16)


def edit(image: InputImage, *, speed: str, size: str | None = None) -> Submission:
    choices = Choices(prompt="paint it blue", model="gpt-image-2", speed=speed, size=size)
    return Submission(1, 2, 3, (), "edit", choices, images=(image,))


def check(s: Submission) -> str:
    return validate(s, SETTINGS, CATALOG, default_model="gpt-image-2", today=TODAY).options.size


def test_a_relaxed_edit_keeps_the_shape_with_a_size_the_json_body_lists() -> None:
    wide = InputImage(b"x" * 10, "image/png", 300, 200, "wide.png")
    assert check(edit(wide, speed="relaxed")) == "1536x1024"
    assert check(edit(wide, speed="fast")) not in ("1536x1024", "1024x1024", "1024x1536")


def test_a_picture_whose_data_url_is_too_long_is_refused_for_relaxed_only() -> None:
    # 16 MiB of image becomes a data URL of ~22.4 million characters; the limit is 20,971,520.
    big = InputImage(b"\0" * (16 * 1024 * 1024), "image/png", 4000, 3000, "IMG_0042.png")
    with pytest.raises(InvalidOptionError) as caught:
        check(edit(big, speed="relaxed"))
    assert "IMG_0042.png is too large for the relaxed speed" in str(caught.value)
    assert check(edit(big, speed="fast"))  # the multipart form takes it
    fits = InputImage(b"\0" * 15_000_000, "image/png", 4000, 3000, "IMG_0043.png")
    assert check(edit(fits, speed="relaxed"))
