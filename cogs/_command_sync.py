"""Slash commands registered with Discord: by one process only, and only when they changed."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.ops.command_digest import record_synced, synced_before
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.db import Database

log = logging.getLogger(__name__)


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
    if await synced_before(db, digest):
        log.info("commands unchanged; not syncing")
        return
    await tree.sync()
    await record_synced(db, digest)
    log.info("synced %d global commands", len(payload))
