"""A guild's settings as values: the quota rule across roles and how an update merges."""

from __future__ import annotations

import pytest

from bot.errors import InvalidOptionError
from bot.guild_settings import (
    GuildConfig,
    GuildLimits,
    GuildSettings,
    RoleQuota,
    effective_user_limits,
    merged,
)


# Moved from tests/unit/test_guild_settings.py (now tests/unit/guilds/test_service.py).
def test_effective_limits_take_the_most_generous_role() -> None:
    limits = GuildLimits(user_daily_images=20, user_daily_micro_usd=1_000_000)
    quotas = [
        RoleQuota(1, 5, None),  # a restricted role
        RoleQuota(2, 40, 2_000_000),
        RoleQuota(3, None, 0),  # no limit on money
        RoleQuota(4, 1000, None),  # a role the member does not have
    ]
    assert effective_user_limits(limits, quotas, []) == (20, 1_000_000)
    assert effective_user_limits(limits, quotas, [1]) == (5, 1_000_000)
    assert effective_user_limits(limits, quotas, [1, 2]) == (40, 2_000_000)
    assert effective_user_limits(limits, quotas, [2, 3]) == (40, 0)
    assert effective_user_limits(limits, [RoleQuota(9, 0, 5)], [9]) == (0, 5)


def test_an_update_merges_into_its_section_and_none_restores_the_default() -> None:
    before = GuildSettings(
        1, GuildLimits(daily_images=5), GuildConfig(previews=True), styles={"Noir": "x"}
    )
    after = merged(before, {"daily_images": None, "max_count": 2}, "limits")
    assert after.limits == GuildLimits(max_count=2)
    assert (after.config, after.styles) == (before.config, before.styles)
    config = merged(before, {"previews": None, "default_size": "1024x1536"}, "config")
    assert config.config == GuildConfig(default_size="1024x1536")
    assert config.limits == before.limits


def test_a_default_model_outside_the_allowed_ones_is_refused() -> None:
    before = GuildSettings(1, GuildLimits(), GuildConfig(allowed_models=("gpt-image-1",)))
    with pytest.raises(InvalidOptionError) as caught:
        merged(before, {"default_model": "gpt-image-2"}, "config")
    assert caught.value.option == "model"
    assert merged(before, {"default_model": "gpt-image-1"}, "config").config.default_model
