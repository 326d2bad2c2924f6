"""Guild settings: built-in defaults, validated and audited changes, role overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.db import open_database
from bot.errors import InvalidOptionError, ModelNotAllowedError
from bot.guild_settings import (
    DEFAULT_DAILY_MICRO_USD,
    GuildConfig,
    GuildLimits,
    RoleQuota,
)
from bot.guilds.service import GuildSettingsService
from tests.unit.jobs_harness import START, catalog


@pytest.fixture
async def store(db_target: Path | str) -> AsyncIterator[tuple[GuildSettingsService, ManualClock]]:
    clock = ManualClock(START)
    async with open_database(db_target) as db:
        yield GuildSettingsService(db, clock, catalog()), clock


async def test_a_new_guild_gets_the_conservative_defaults(store) -> None:
    guilds, _ = store
    settings = await guilds.get(42)
    assert settings.limits == GuildLimits()
    assert settings.limits.daily_micro_usd == 5_000_000
    assert settings.limits.max_count == 4
    assert settings.config == GuildConfig()
    assert (settings.config.default_quality, settings.config.previews) == ("medium", False)
    assert await guilds.changes(42) == []


async def test_limit_changes_are_stored_and_audited(store) -> None:
    guilds, clock = store
    updated = await guilds.update_limits(1, changed_by=7, daily_micro_usd=2_500_000, max_count=2)
    assert (updated.limits.daily_micro_usd, updated.limits.max_count) == (2_500_000, 2)
    assert (await guilds.get(1)).limits == updated.limits
    assert (await guilds.get(2)).limits == GuildLimits()  # other guilds untouched
    clock.advance(60)
    await guilds.update_limits(1, changed_by=8, daily_micro_usd=None)  # back to the default
    assert (await guilds.get(1)).limits.daily_micro_usd == DEFAULT_DAILY_MICRO_USD
    changes = await guilds.changes(1)
    assert [(c.user_id, c.field, c.old_value, c.new_value) for c in changes] == [
        (8, "daily_micro_usd", "2500000", str(DEFAULT_DAILY_MICRO_USD)),
        (7, "max_count", "4", "2"),
        (7, "daily_micro_usd", str(DEFAULT_DAILY_MICRO_USD), "2500000"),
    ]
    assert changes[0].changed_at > changes[2].changed_at
    assert len(await guilds.changes(1, limit=1)) == 1


async def test_setting_the_same_value_records_no_change(store) -> None:
    guilds, _ = store
    await guilds.update_limits(1, changed_by=7, daily_images=200)  # already the default
    assert await guilds.changes(1) == []


@pytest.mark.parametrize(
    ("fields", "option"),
    [
        ({"daily_micro_usd": -1}, "guild_daily_usd"),
        ({"max_count": 11}, "max_count"),
        ({"user_daily_images": True}, "user_daily_images"),
    ],
)
async def test_invalid_limits_are_refused_and_nothing_changes(store, fields, option) -> None:
    guilds, _ = store
    with pytest.raises(InvalidOptionError) as caught:
        await guilds.update_limits(1, changed_by=7, **fields)
    assert caught.value.option == option
    assert (await guilds.get(1)).limits == GuildLimits()
    assert await guilds.changes(1) == []


async def test_unknown_fields_are_a_programming_error(store) -> None:
    guilds, _ = store
    with pytest.raises(ValueError, match="unknown"):
        await guilds.update_limits(1, changed_by=7, daily_dollars=5)
    with pytest.raises(ValueError, match="unknown"):
        await guilds.update_config(1, changed_by=7, colour="red")


async def test_config_changes_are_normalised_and_audited(store) -> None:
    guilds, _ = store
    updated = await guilds.update_config(
        1,
        changed_by=7,
        default_model="gpt-image-2",
        default_quality="HIGH",
        default_size="1536X1024",
        allowed_models="gpt-image-2, gpt-image-1-mini",
        moderation="low",
        previews=True,
        log_channel_id=555,
    )
    config = (await guilds.get(1)).config
    assert config == updated.config
    assert config == GuildConfig(
        default_model="gpt-image-2",
        default_quality="high",
        default_size="1536x1024",
        allowed_models=("gpt-image-2", "gpt-image-1-mini"),
        moderation="low",
        previews=True,
        log_channel_id=555,
    )
    audited = {c.field: c.new_value for c in await guilds.changes(1, limit=20)}
    assert audited["allowed_models"] == "gpt-image-2,gpt-image-1-mini"
    assert audited["previews"] == "on"
    await guilds.update_config(1, changed_by=7, allowed_models=None, default_model=None)
    assert (await guilds.get(1)).config.allowed_models is None


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"default_quality": "ultra"}, InvalidOptionError),
        ({"moderation": "none"}, InvalidOptionError),
        ({"default_size": "big"}, InvalidOptionError),
        ({"previews": "yes"}, InvalidOptionError),
        ({"default_model": "dall-e-9"}, ModelNotAllowedError),
        ({"allowed_models": "gpt-image-2,dall-e-9"}, ModelNotAllowedError),
        ({"default_model": "gpt-image-1", "allowed_models": "gpt-image-2"}, InvalidOptionError),
    ],
)
async def test_invalid_config_is_refused_and_nothing_changes(store, fields, error) -> None:
    guilds, _ = store
    with pytest.raises(error):
        await guilds.update_config(1, changed_by=7, **fields)
    assert (await guilds.get(1)).config == GuildConfig()
    assert await guilds.changes(1) == []


async def test_role_quotas_are_set_replaced_removed_and_audited(store) -> None:
    guilds, _ = store
    await guilds.set_role_quota(
        1, 500, changed_by=7, user_daily_images=50, user_daily_micro_usd=None
    )
    await guilds.set_role_quota(1, 501, changed_by=7, user_daily_images=0, user_daily_micro_usd=10)
    assert await guilds.role_quotas(1) == [RoleQuota(500, 50, None), RoleQuota(501, 0, 10)]
    await guilds.set_role_quota(
        1, 500, changed_by=8, user_daily_images=None, user_daily_micro_usd=None
    )
    assert await guilds.role_quotas(1) == [RoleQuota(501, 0, 10)]
    assert await guilds.role_quotas(2) == []
    latest = (await guilds.changes(1))[0]
    assert (latest.user_id, latest.field, latest.old_value, latest.new_value) == (
        8,
        "role:500:user_daily_images",
        "50",
        None,
    )
    with pytest.raises(InvalidOptionError):
        await guilds.set_role_quota(
            1, 502, changed_by=7, user_daily_images=-3, user_daily_micro_usd=None
        )


async def test_user_limits_combine_the_guilds_limits_and_the_members_roles(store) -> None:
    guilds, _ = store
    await guilds.update_limits(1, changed_by=7, user_daily_images=3)
    await guilds.set_role_quota(
        1, 500, changed_by=7, user_daily_images=9, user_daily_micro_usd=None
    )
    assert await guilds.user_limits(1, [500, 501]) == (9, 1_000_000)
    assert await guilds.user_limits(1, []) == (3, 1_000_000)
    assert await guilds.user_limits(2, [500]) == (20, 1_000_000)  # another guild's roles


async def test_safety_settings_are_stored_audited_and_reset(store) -> None:
    guilds, _ = store
    new = await guilds.get(3)
    assert (new.config.screening, new.config.spoilers, new.config.cooldown_refusals) == (
        "off",
        False,
        3,
    )
    await guilds.update_config(
        3, changed_by=7, screening="PROMPTS", spoilers=True, cooldown_refusals=0,
        cooldown_window_minutes=60, cooldown_minutes=120,
    )  # fmt: skip
    read = (await guilds.get(3)).config
    assert (read.screening, read.spoilers, read.cooldown_refusals) == ("prompts", True, 0)
    assert (read.cooldown_window_minutes, read.cooldown_minutes) == (60, 120)
    assert {c.field for c in await guilds.changes(3)} >= {"screening", "spoilers"}
    reset = await guilds.update_config(3, changed_by=7, screening=None)
    assert reset.config.screening == "off"


@pytest.mark.parametrize(
    ("name", "value", "option"),
    [
        ("screening", "images", "screening"),
        ("spoilers", "yes", "spoilers"),
        ("cooldown_refusals", -1, "cooldown_refusals"),
        ("cooldown_window_minutes", 0, "cooldown_window"),
        ("cooldown_minutes", 7 * 24 * 60 + 1, "cooldown_minutes"),
    ],
)
async def test_bad_safety_settings_name_their_option(store, name, value, option) -> None:
    guilds, _ = store
    with pytest.raises(InvalidOptionError) as caught:
        await guilds.update_config(3, changed_by=7, **{name: value})
    assert caught.value.option == option
    assert (await guilds.get(3)).config == GuildConfig()
