"""Slash commands registered with Discord: by one process only, and only when they changed."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands

from bot.db import Database
from bot.settings import Settings
from bot.store import meta

log = logging.getLogger(__name__)
SYNC_HASH_KEY = "global_commands_sha256"


def syncs_commands(shards: Sequence[int] | None) -> bool:
    """Whether this process registers the commands: the one whose shards include 0 (or that
    runs them all), so several processes never sync the same set twice
    (README "Several processes")."""
    return shards is None or 0 in shards


async def sync_commands(
    tree: app_commands.CommandTree[Any], settings: Settings, db: Database
) -> None:
    """DEV_GUILD_ID: sync there at once; otherwise globally, only when the set changed.

    Discord allows 200 command creates a day per guild, so a global sync on every start is
    both slow to propagate and wasteful.
    """
    dev_guild = settings.dev_guild_id
    if dev_guild is not None:
        guild = discord.Object(id=dev_guild)
        tree.copy_global_to(guild=guild)
        await tree.sync(guild=guild)
        log.info("synced commands to guild %s", dev_guild)
        return
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    if await meta.get(db, SYNC_HASH_KEY) == digest:
        log.info("commands unchanged; not syncing")
        return
    await tree.sync()
    async with db.transaction() as conn:
        await meta.put(conn, SYNC_HASH_KEY, digest)
    log.info("synced %d global commands", len(payload))
