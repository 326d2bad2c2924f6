"""A default a guild sets must be one it can use, the size it keeps included."""

from __future__ import annotations

from datetime import date

import pytest

from bot.catalog.models import load_catalog
from bot.catalog.usable import check_usable
from bot.errors import InvalidOptionError

CATALOG = load_catalog()
TODAY = date(2026, 11, 16)


def check(changes: dict[str, object], current_size: str | None) -> None:
    check_usable(changes, current_model="gpt-image-2", current_size=current_size,
                 catalog=CATALOG, today=TODAY, offers=lambda name: True,
                 allowed=None)  # fmt: skip


def test_a_new_model_that_does_not_take_the_guilds_chosen_size_is_refused() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        check({"default_model": "gpt-image-1.5"}, current_size="2048x1152")
    assert "does not take this server's default size 2048x1152" in caught.value.reason
    check({"default_model": "gpt-image-1.5", "default_size": "1024x1024"}, "2048x1152")
    check({"default_model": "gpt-image-1.5"}, current_size=None)  # nothing chosen: nothing lost
