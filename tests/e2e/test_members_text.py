"""Members' text shown as plain text, pinging no one (issue 22, cases 3 to 7): masked links and
mentions in prompts and style names, look-alike style names, a log channel everyone reads."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, harness, slash
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeMember

pytestmark = pytest.mark.e2e

MASKED = "[free nitro](https://evil.example/claim)"


def live_link(text: str) -> bool:
    """A masked link Discord would render, or a bare link to the member's site."""
    return bool(re.search(r"(?<!\\)\[[^\]]*\]\(\s*https?://", text)) or (
        "https://evil.example" in text
    )


def live_mention(text: str, member: FakeMember) -> bool:
    return bool(re.search(rf"(?<!\\)<@!?{member.id}>", text)) or bool(
        re.search(r"@(everyone|here)\b", text)
    )


async def mod_says(h: Harness, command: str, sub: str, **options: object) -> RecordedMessage:
    handle = await slash(h, command, h.mod, sub, **options)
    reply: RecordedMessage = await handle.wait_original(timeout=5)
    return reply


def shown(h: Harness) -> list[RecordedMessage]:
    return [m for m in h.discord.messages if m.author.id == h.discord.bot_user.id]


async def test_links_and_mentions_in_prompts_and_style_names_are_plain_text(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        log_channel = h.discord.add_channel(h.guild, "image-log")
        await h.start_bot()
        await mod_says(h, "config", "set", log_channel=log_channel)
        style = f"<@{h.bob.id}>"
        await mod_says(h, "style", "add", name=style, prompt=f"{MASKED} style, {{prompt}}")
        handle = await h.imagine(f"a cat {MASKED} @everyone <@{h.bob.id}>", style=style)
        status = await handle.wait_original(lambda m: "Job #" in m.content, timeout=10)
        assert "style" in status.content and not live_mention(status.content, h.bob)
        result = await h.wait_result(handle)
        line = await h.discord.wait_for_message(
            lambda m: m.channel_id == log_channel.id, timeout=10
        )
        for message in (status, result, line):
            assert not live_link(message.text), message.text
            assert not live_mention(message.text, h.bob), message.text
        assert "free nitro" in result.text and "free nitro" in line.text
        for message in shown(h):  # every message the bot sent pings nobody but alice
            assert message.pings <= {f"user:{h.alice.id}"}, (message.content, message.pings)


async def test_a_style_named_as_a_mention_pings_no_one_in_the_channel(tmp_path: Path) -> None:
    """A result posted in the channel (its interaction expired) names its member, no one else."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        style = f"<@{h.bob.id}>"
        await mod_says(h, "style", "add", name=style, prompt="watercolour")
        listing = await slash(h, "style", h.alice, "list")
        listed = await listing.wait_original(timeout=5)
        assert not live_mention(listed.text, h.bob)
        assert all(m.pings <= {f"user:{h.alice.id}"} for m in shown(h))


async def test_look_alike_style_names_are_one_style(tmp_path: Path) -> None:
    """Zero-width, right-to-left and look-alike letters do not make a second, identical style."""
    async with harness(tmp_path) as h:
        await h.start_bot()
        await mod_says(h, "style", "add", name="Noir", prompt="film noir")
        for twin in ("No\u200bir", "\u202aNoir\u202c", "Nоir", "ɴoir"):  # ZWSP, bidi, Cyrillic о
            reply = await mod_says(h, "style", "add", name=twin, prompt="film noir, grainy")
            assert "Replaced" in reply.content, (twin, reply.content)
        listing = await slash(h, "style", h.alice, "list")
        listed = await listing.wait_original(timeout=5)
        assert listed.text.count("oir**") == 1 and "(1)" in listed.text
        handle = await h.imagine("a street", style="NO\u200dIR")
        assert (await h.wait_result(handle)).attachments


async def test_the_blocklist_catches_emoji_letters_and_look_alikes_of_any_script(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await mod_says(h, "blocklist", "add", words="gore")
        disguises = ("🇬🇴🇷🇪", "🅶🅾🆁🅴", "gօre", "gorɛ", "GORᎬ", "𝐠𝐨𝐫𝐞")
        for n, disguised in enumerate(disguises):  # two each: three refusals cool one down
            member = (h.alice, h.bob, h.mod)[n % 3]
            handle = await h.imagine(f"so much {disguised} here", member=member)
            reply = await h.private_reply(handle)
            assert "“gore”" in reply.content, (disguised, reply.content)
        assert h.jobs() == [] and h.openai.image_requests == []


async def test_a_log_channel_everyone_reads_gets_a_warning_and_no_refused_prompts(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        public = h.discord.add_channel(h.guild, "image-log")
        private = h.private_channel("mod-log")
        await h.start_bot()
        warned = await mod_says(h, "config", "set", log_channel=public)
        assert "Everyone can read" in warned.content
        await mod_says(h, "blocklist", "add", words="gore")
        refused = await h.imagine("my secret gore idea")
        await h.private_reply(refused)
        line = await h.discord.wait_for_message(
            lambda m: m.channel_id == public.id and "refused" in m.content, timeout=10
        )
        assert "secret" not in line.content and "blocklist" in line.content
        # the provider's own refusal too (MODERATION_BLOCK makes the fake refuse the prompt)
        await h.imagine("MODERATION_BLOCK my secret locked room")
        said = await h.discord.wait_for_message(
            lambda m: m.channel_id == public.id and "safety system" in m.content, timeout=10
        )
        assert "locked room" not in said.content
        quiet = await mod_says(h, "config", "set", log_channel=private)
        assert "Everyone can read" not in quiet.content
        await h.private_reply(await h.imagine("my other gore idea", member=h.bob))
        kept = await h.discord.wait_for_message(
            lambda m: m.channel_id == private.id and "refused" in m.content, timeout=10
        )
        assert "other gore idea" in kept.content


async def test_a_result_posted_as_a_new_message_pings_its_member_only(tmp_path: Path) -> None:
    """Admission took longer than Discord's 3 s (a stalled database): the status was private,
    so the result is a new public message that names and notifies its member, nobody else."""
    async with harness(tmp_path) as h:
        bot = await h.start_bot()
        stalled = asyncio.Event()

        async def stall_database() -> None:
            async with bot.services.db.transaction():
                stalled.set()
                await asyncio.sleep(2.0)  # past the bot's 1.5 s: it defers privately

        staller = asyncio.create_task(stall_database())
        await stalled.wait()
        handle = await h.imagine(f"a cat <@{h.bob.id}>", quality="low")
        await staller
        result = await h.wait_result(handle)
        assert not result.ephemeral and result.pings == {f"user:{h.alice.id}"}
