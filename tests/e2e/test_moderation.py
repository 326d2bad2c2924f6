"""Moderator tools end to end: /usage with chart and CSV, /quota, /config and the log channel."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from bot.money import format_usd
from tests.e2e.harness import Harness, harness

pytestmark = pytest.mark.e2e

RELATIVE_TIME = re.compile(r"<t:\d+:R>")


async def generate(h: Harness, prompt: str, member, **options) -> None:
    handle = await h.imagine(prompt, member=member, quality="low", **options)
    await h.wait_result(handle)


async def slash(h: Harness, name: str, member, subcommand: str | None = None, **options):
    return await h.discord.slash(
        name, options, subcommand=subcommand, member=member, guild=h.guild, channel=h.channel
    )


def field(message, name: str) -> str:
    for embed in message.embeds:
        for f in embed.get("fields", []):
            if f["name"] == name:
                return str(f["value"])
    raise AssertionError(f"no field {name!r} in {message.embeds}")


async def test_usage_matches_the_ledger_with_a_chart_and_a_csv(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await generate(h, "one", h.alice)
        await generate(h, "two", h.alice, size="1536x1024")
        await generate(h, "three", h.bob)
        blocked = await h.imagine("MODERATION_BLOCK four", member=h.bob, quality="low")
        await h.private_notice(blocked)

        handle = await slash(h, "usage", h.mod, period="today", export=True)
        reply = await handle.wait_original(lambda m: bool(m.embeds), timeout=15)
        assert reply.ephemeral
        ledger = h.ledger()
        spend = sum(row["cost_micro_usd"] for row in ledger)
        assert field(reply, "Requests") == str(len(ledger)) == "4"
        assert field(reply, "Images") == "3"
        assert field(reply, "Spend") == format_usd(spend)
        assert field(reply, "Refused (safety)") == "1"
        assert f"<@{h.alice.id}>" in field(reply, "Top members by spend")

        chart = Image.open(io.BytesIO(reply.file("usage.png").data))
        assert chart.format == "PNG" and chart.size[0] >= 600
        [export] = [a for a in reply.attachments if a.filename.endswith(".csv")]
        rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8"))))
        assert len(rows) == 4
        assert sum(int(row["cost_micro_usd"]) for row in rows) == spend


async def test_usage_for_one_member(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await generate(h, "alice's", h.alice)
        await generate(h, "bob's", h.bob)
        handle = await slash(h, "usage", h.mod, user=h.bob)
        reply = await handle.wait_original(lambda m: bool(m.embeds), timeout=15)
        bobs = [row for row in h.ledger() if row["user_id"] == h.bob.id]
        assert field(reply, "Requests") == "1"
        assert field(reply, "Spend") == format_usd(bobs[0]["cost_micro_usd"])


async def test_usage_is_refused_without_manage_server_even_if_the_default_is_overridden(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        handle = await h.discord.slash(
            "usage",
            {},
            member=h.alice,
            guild=h.guild,
            channel=h.channel,
            override_permissions=True,  # a server admin let everyone see the command
        )
        reply = await h.private_reply(handle)
        assert "Manage Server" in reply.content
        assert not reply.embeds and not reply.attachments


async def test_quota_set_then_imagine_over_the_limit_is_refused_with_the_reset_time(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        setting = await slash(h, "quota", h.mod, "set", user_daily_images=1)
        shown = await setting.wait_original(timeout=5)
        assert "1 image" in shown.text and "1 images" not in shown.text
        await generate(h, "the one allowed today", h.alice)
        refused = await h.imagine("one too many", quality="low")
        reply = await h.private_reply(refused)
        assert "daily images" in reply.content and RELATIVE_TIME.search(reply.content)
        assert len(h.jobs()) == 1

        refused_member = await slash(h, "quota", h.alice, "set", user_daily_images=100)
        assert "Manage Server" in (await h.private_reply(refused_member)).content


async def test_quota_role_gives_its_members_a_higher_limit(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        patrons = h.discord.add_role(h.guild, "Patrons")
        carol = h.discord.add_member(h.guild, "carol", roles=[patrons])
        await h.start_bot()
        await (await slash(h, "quota", h.mod, "set", user_daily_images=1)).wait_response()
        role = await slash(h, "quota", h.mod, "role", role=patrons, user_daily_images=3)
        assert "3 images" in (await role.wait_original(timeout=5)).content
        for prompt in ("a", "b", "c"):
            await generate(h, prompt, carol)
        assert len([j for j in h.jobs() if j["user_id"] == carol.id]) == 3
        fourth = await h.imagine("d", member=carol, quality="low")
        assert "daily images" in (await h.private_reply(fourth)).content

        shown = await slash(h, "quota", carol, "show")
        text = (await shown.wait_original(timeout=5)).text
        assert "0 images left of 3 images" in text


async def test_config_changes_are_applied_audited_and_logged(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        log_channel = h.private_channel("image-log")  # moderators only: refusals keep the prompt
        await h.start_bot()
        changed = await slash(
            h,
            "config",
            h.mod,
            "set",
            quality="low",
            log_channel=log_channel,
            allowed_models="gpt-image-2",
        )
        assert "Settings updated" in (await changed.wait_original(timeout=5)).content

        await generate(h, "a logged picture", h.alice)
        line = await h.discord.wait_for_message(
            lambda m: m.channel_id == log_channel.id, timeout=10
        )
        cost = format_usd(h.ledger()[0]["cost_micro_usd"])
        assert f"<@{h.alice.id}>" in line.content and "a logged picture" in line.content
        assert cost in line.content and "low" in line.content
        assert h.ledger()[0]["quality"] == "low"  # the new default quality was used

        blocked = await h.imagine("MODERATION_BLOCK a bad idea", member=h.bob)
        refusal = await h.discord.wait_for_message(
            lambda m: m.channel_id == log_channel.id and "safety system" in m.content, timeout=10
        )
        assert f"<@{h.bob.id}>" in refusal.content and "a bad idea" in refusal.content
        await h.private_notice(blocked)

        refused = await h.imagine("x", model="gpt-image-1.5")
        assert "not available here" in (await h.private_reply(refused)).content

        shown = await slash(h, "config", h.mod, "show")
        text = (await shown.wait_original(timeout=5)).text
        assert (
            f"<@{h.mod.id}>" in text and "quality: medium → low" in text
        )  # as the option is typed
