"""Who the bot serves and who may change limits (issue 22, cases 1 and 2): strangers' guilds,
the account's own ceilings, moderators by server-wide permissions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import pytest

from tests.e2e.harness import MANAGE_GUILD, Harness, harness, slash
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeGuild, FakeMember

pytestmark = pytest.mark.e2e

NOT_ENABLED = "not enabled here"


def stranger_guild(h: Harness) -> tuple[FakeGuild, FakeMember]:
    """A server someone else made and invited the public bot to; its owner has Manage Server."""
    guild = h.discord.add_guild("Strangers", operator=False)
    return guild, guild.members[guild.owner_id]


async def reply_in(
    h: Harness, where: FakeGuild, member: FakeMember, command: str, **kw: object
) -> RecordedMessage:
    sub = kw.pop("sub", None)
    handle = await h.discord.slash(
        command, kw, subcommand=str(sub) if sub else None, member=member, guild=where,
        channel=where.text_channels[0],
    )  # fmt: skip
    reply: RecordedMessage = await h.private_reply(handle)
    return reply


async def test_a_strangers_guild_is_not_served_and_nothing_is_spent(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(dev_guild_id=None)  # global commands: every guild sees them
        guild, owner = stranger_guild(h)
        await h.discord.wait_until(lambda: h.bot and h.bot.get_guild(guild.id), 5, "the guild")
        quota = await reply_in(h, guild, owner, "quota", sub="set", guild_daily_usd=0.0)
        assert NOT_ENABLED in quota.content
        made = await reply_in(h, guild, owner, "imagine", prompt="a cat", count=10)
        assert NOT_ENABLED in made.content
        assert h.jobs() == [] and h.ledger() == []
        assert not [r for r in h.openai.requests if "/images/" in r.path]
        # The operator's own server (the application's owner is in it) works with no extra step.
        ours = await h.imagine("a cat")
        assert (await h.wait_result(ours)).attachments


async def test_an_operator_allows_and_denies_a_guild(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(dev_guild_id=None)
        guild, owner = stranger_guild(h)
        operator = h.guild.members[h.discord.world.owner_user.id]
        refused = await reply_in(h, h.guild, h.alice, "operator", sub="allow", guild=str(guild.id))
        assert "not allowed" in refused.content
        allowed = await reply_in(h, h.guild, operator, "operator", sub="allow", guild=str(guild.id))
        assert "Strangers is now served" in allowed.content
        handle = await h.discord.slash(
            "imagine", {"prompt": "a cat"}, member=owner, guild=guild,
            channel=guild.text_channels[0],
        )  # fmt: skip
        assert (await h.wait_result(handle)).attachments
        listing = await reply_in(h, h.guild, operator, "operator", sub="guilds")
        assert f"✅ Strangers (`{guild.id}`)" in listing.content
        await reply_in(h, h.guild, operator, "operator", sub="deny", guild=str(h.guild.id))
        denied = await reply_in(h, h.guild, h.alice, "imagine", prompt="a dog")
        assert NOT_ENABLED in denied.content


async def test_the_account_ceiling_holds_across_guilds_under_concurrency(tmp_path: Path) -> None:
    """ACCOUNT_DAILY_USD is reserved with every other limit: members of 3 guilds asking at once
    never reserve more than the ceiling together, and the refused are told why."""
    async with harness(tmp_path, account_daily_usd=0.5, guilds="all") as h:
        await h.start_bot(dev_guild_id=None)
        guilds = [h.guild, h.discord.add_guild("Two"), h.discord.add_guild("Three")]
        members = [(g, h.discord.add_member(g, f"m{i}{n}")) for n, g in enumerate(guilds)
                   for i in range(2)]  # fmt: skip
        await h.discord.wait_until(lambda: h.bot and len(h.bot.guilds) == 3, 5, "three guilds")
        handles = await asyncio.gather(*(
            h.discord.slash("imagine", {"prompt": "a cat", "quality": "high", "count": 2},
                            member=m, guild=g, channel=g.text_channels[0])
            for g, m in members
        ))  # fmt: skip
        for handle in handles:
            await handle.wait_response(timeout=15, allow_refused=True)

        def said() -> str:
            shown = [m for hd in handles for m in (hd.record.original, *hd.record.followups) if m]
            return "\n".join(m.content for m in shown)

        await h.eventually(lambda: "for every server" in said(), timeout=15)
        reserved = sum(row["estimated_micro_usd"] for row in h.jobs())
        assert 0 < reserved <= 500_000
        assert len(h.jobs()) < len(members)
        assert "the bot's daily budget for every server" in said()


async def test_a_channel_overwrite_does_not_make_a_moderator(tmp_path: Path) -> None:
    """Manage Server granted in one channel's overwrite is not the server-wide permission."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.discord.set_overwrite(h.channel, h.alice, allow=MANAGE_GUILD)
        handle = await slash(h, "quota", h.alice, "set", guild_daily_usd=0.0,
                             override_permissions=True)  # fmt: skip
        reply = await h.private_reply(handle)
        assert "not allowed" in reply.content
        usage = await slash(h, "usage", h.alice, override_permissions=True)
        assert "not allowed" in (await h.private_reply(usage)).content
        assert discord.Permissions(int(handle.payload["member"]["permissions"])).manage_guild


async def test_paused_refuses_new_jobs_and_keeps_the_queued(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot(openai_ipm=1)  # Bob's job takes the minute; Alice's waits in the queue
        await h.wait_result(await h.imagine("a busy street", member=h.bob, quality="low"))
        waiting = await h.imagine("a quiet field", quality="low")
        await waiting.wait_original(lambda m: "Job #" in m.content)
        paused = await slash(h, "config", h.mod, "set", paused=True)
        assert "yes: new jobs are refused" in (await h.private_reply(paused)).text
        refused = await h.private_reply(await h.imagine("a dog", member=h.bob, quality="low"))
        assert "paused by the moderators" in refused.content
        assert [row["state"] for row in h.jobs()] == ["succeeded", "queued"]
        await h.private_reply(await slash(h, "config", h.mod, "set", paused=False))
        again = await h.imagine("a dog", member=h.bob, quality="low")
        await again.wait_original(lambda m: "Job #3" in m.content)
