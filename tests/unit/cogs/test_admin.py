"""/quota set callback: moderators' limits reach the settings store in micro-USD; others are
refused before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from bot.errors import PermissionDeniedError
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from cogs._messages import user_message
from cogs.admin import Admin
from tests.unit.cogs.fakes import (
    ALICE,
    GUILD,
    FakeImagesClient,
    bot_with,
    interaction,
    run,
)


@dataclass
class FakeGuildSettings:
    """GuildSettingsStore.update_limits: records each change and applies it to `limits`."""

    limits: GuildLimits = field(default_factory=GuildLimits)
    changes: list[tuple[int, int, dict[str, int | None]]] = field(default_factory=list)

    async def update_limits(
        self, guild_id: int, *, changed_by: int, **values: int | None
    ) -> GuildSettings:
        self.changes.append((guild_id, changed_by, values))
        given = {name: value for name, value in values.items() if value is not None}
        self.limits = replace(self.limits, **given)
        return GuildSettings(guild_id=guild_id, limits=self.limits, config=GuildConfig())


@dataclass
class FakeServices:
    guilds: FakeGuildSettings
    openai: FakeImagesClient = field(default_factory=FakeImagesClient)


def cog() -> tuple[Admin, FakeServices]:
    services = FakeServices(guilds=FakeGuildSettings())
    return Admin(bot_with(services)), services


async def test_a_moderator_sets_limits_in_dollars_stored_in_micro_usd() -> None:
    admin, services = cog()
    seen, fake = interaction(services, user=ALICE, moderator=True)
    await run(admin.quota_set, admin, seen, guild_daily_usd=2.5, user_daily_images=3)
    assert services.guilds.changes == [
        (GUILD, ALICE, {"daily_micro_usd": 2_500_000, "user_daily_images": 3})
    ]
    [reply] = fake.response.replies
    assert reply.ephemeral and reply.content == "Limits updated."
    assert reply.embed is not None
    shown = {f.name: f.value for f in reply.embed.fields}
    assert shown["Server per day"] == "$2.50" and shown["Member images per day"] == "3 images"


async def test_quota_set_with_no_option_changes_nothing_and_shows_the_limits() -> None:
    admin, services = cog()
    seen, fake = interaction(services, moderator=True)
    await run(admin.quota_set, admin, seen)
    assert services.guilds.changes == [(GUILD, ALICE, {})]
    [reply] = fake.response.replies
    assert reply.content == "Nothing to change; the limits are:" and reply.embed is not None


async def test_a_member_without_manage_server_is_refused_and_nothing_is_written() -> None:
    admin, services = cog()
    seen, fake = interaction(services, moderator=False)
    with pytest.raises(PermissionDeniedError) as refused:
        await run(admin.quota_set, admin, seen, guild_daily_usd=1000.0)
    assert services.guilds.changes == [] and fake.response.replies == []
    shown = user_message(refused.value)  # the tree's error handler sends this, privately
    assert shown is not None and "change the limits" in shown and "Manage Server" in shown
