"""Guild settings and role quotas: read, validated against the catalog, written with an audit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.catalog.models import Catalog
from bot.clock import Clock
from bot.db import Database
from bot.guild_settings import (
    GuildSettings,
    RoleQuota,
    SettingsChange,
    effective_user_limits,
    merged,
)
from bot.guilds.checks import check_config, check_limit
from bot.store import guilds as store


class GuildSettingsService:
    """Reads and validated, audited writes of guild settings and role quotas."""

    def __init__(self, db: Database, clock: Clock, catalog: Catalog | None = None) -> None:
        self._db = db
        self._clock = clock
        self._catalog = catalog  # when given, model names are checked against it

    async def get(self, guild_id: int) -> GuildSettings:
        return await store.get_settings(self._db, guild_id)

    async def update_limits(
        self, guild_id: int, *, changed_by: int, **values: int | None
    ) -> GuildSettings:
        """Set limits (None = back to the built-in default); each change is audited."""
        for name, value in values.items():
            check_limit(name, value)
        return await self._update(guild_id, changed_by, values, section="limits")

    async def update_config(
        self, guild_id: int, *, changed_by: int, **values: Any
    ) -> GuildSettings:
        """Set defaults and switches (None = back to the built-in default); each change audited."""
        normalised = {
            name: check_config(name, value, self._catalog) for name, value in values.items()
        }
        return await self._update(guild_id, changed_by, normalised, section="config")

    async def user_limits(self, guild_id: int, member_role_ids: Iterable[int]) -> tuple[int, int]:
        """(daily images, daily micro-USD) of a member with these roles; 0 = no limit."""
        settings = await self.get(guild_id)
        quotas = await self.role_quotas(guild_id)
        return effective_user_limits(settings.limits, quotas, member_role_ids)

    async def role_quotas(self, guild_id: int) -> list[RoleQuota]:
        return await store.role_quotas(self._db, guild_id)

    async def set_role_quota(
        self,
        guild_id: int,
        role_id: int,
        *,
        changed_by: int,
        user_daily_images: int | None,
        user_daily_micro_usd: int | None,
    ) -> RoleQuota | None:
        """Set a role's overrides; both None removes the role's override. Audited."""
        check_limit("user_daily_images", user_daily_images)
        check_limit("user_daily_micro_usd", user_daily_micro_usd)
        now = self._clock.now()
        after = (user_daily_images, user_daily_micro_usd)
        async with self._db.transaction() as conn:
            old = await store.role_quota(conn, guild_id, role_id)
            before = (
                (None, None) if old is None else (old.user_daily_images, old.user_daily_micro_usd)
            )
            await store.write_role_quota(conn, guild_id, role_id, after, now)
            names = ("user_daily_images", "user_daily_micro_usd")
            for name, old_value, new_value in zip(names, before, after, strict=True):
                if old_value != new_value:
                    field = f"role:{role_id}:{name}"
                    await store.audit(conn, guild_id, changed_by, field, old_value, new_value, now)
        return None if after == (None, None) else RoleQuota(role_id, *after)

    async def changes(self, guild_id: int, limit: int = 10) -> list[SettingsChange]:
        """The newest audited changes first."""
        return await store.changes(self._db, guild_id, limit)

    async def _update(
        self, guild_id: int, changed_by: int, values: Mapping[str, object], *, section: str
    ) -> GuildSettings:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            before = await store.settings_only(conn, guild_id)
            old = before.limits if section == "limits" else before.config
            after = merged(before, values, section)
            await store.upsert_settings(conn, guild_id, values, now)
            new = after.limits if section == "limits" else after.config
            for name in values:
                old_value, new_value = getattr(old, name), getattr(new, name)
                if old_value != new_value:
                    await store.audit(conn, guild_id, changed_by, name, old_value, new_value, now)
        return after
