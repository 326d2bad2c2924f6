"""Guild settings SQL: the row and its defaults, role quotas and the audit log's text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.db import Database, open_database
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings, RoleQuota
from bot.store import guilds

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_target: Path | str) -> AsyncIterator[Database]:
    async with open_database(db_target) as database:
        yield database


async def test_columns_set_read_back_and_none_returns_to_the_default(db: Database) -> None:
    assert await guilds.get_settings(db, 1) == GuildSettings(1, GuildLimits(), GuildConfig())
    async with db.transaction() as conn:
        values = {"allowed_models": ("gpt-image-1", "gpt-image-2"), "previews": True}
        await guilds.upsert_settings(conn, 1, {**values, "daily_images": 7}, NOW)
    read = await guilds.get_settings(db, 1)
    assert read.config.allowed_models == ("gpt-image-1", "gpt-image-2")
    assert read.config.previews is True and read.limits.daily_images == 7
    async with db.transaction() as conn:
        await guilds.upsert_settings(conn, 1, {"daily_images": None}, NOW)
    assert (await guilds.get_settings(db, 1)).limits == GuildLimits()
    assert await guilds.settings_only(db, 1) == await guilds.get_settings(db, 1)  # no styles
    assert await guilds.get_settings(db, 2) == GuildSettings(2, GuildLimits(), GuildConfig())


async def test_a_role_quota_is_written_read_and_removed(db: Database) -> None:
    async with db.transaction() as conn:
        await guilds.write_role_quota(conn, 1, 500, (10, None), NOW)
        await guilds.write_role_quota(conn, 1, 400, (None, 2_000_000), NOW)
        await guilds.write_role_quota(conn, 2, 500, (1, 1), NOW)
    assert await guilds.role_quota(db, 1, 500) == RoleQuota(500, 10, None)
    assert await guilds.role_quotas(db, 1) == [
        RoleQuota(400, None, 2_000_000),
        RoleQuota(500, 10, None),
    ]
    async with db.transaction() as conn:
        await guilds.write_role_quota(conn, 1, 500, (None, None), NOW)
    assert await guilds.role_quota(db, 1, 500) is None
    assert await guilds.role_quotas(db, 2) == [RoleQuota(500, 1, 1)]


async def test_the_audit_log_reads_newest_first_as_moderators_typed(db: Database) -> None:
    async with db.transaction() as conn:
        await guilds.audit(conn, 1, 7, "previews", False, True, NOW)
        await guilds.audit(conn, 1, 7, "allowed_models", None, ("a", "b"), NOW)
        await guilds.audit(conn, 1, 8, "daily_images", 200, 40, NOW)
    changes = await guilds.changes(db, 1, limit=2)
    assert [(c.user_id, c.field, c.old_value, c.new_value) for c in changes] == [
        (8, "daily_images", "200", "40"),
        (7, "allowed_models", None, "a,b"),
    ]
    assert changes[0].changed_at == NOW
    assert [c.new_value for c in await guilds.changes(db, 1)][-1] == "on"
