"""Self-tests of the fake Discord: a small real discord.py bot, end to end against it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakes.discord_model import FakeGuild, FakeMember
from tests.fakes.discord_server import FakeDiscord

pytestmark = pytest.mark.e2e


def png_bytes(size: tuple[int, int] = (8, 8), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


class PromptModal(discord.ui.Modal, title="New prompt"):
    prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(label="Prompt", max_length=100)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"prompt was {self.prompt.value}")


class PickView(discord.ui.View):
    @discord.ui.button(label="Pick")
    async def pick(
        self, interaction: discord.Interaction, _button: discord.ui.Button[PickView]
    ) -> None:
        await interaction.response.edit_message(
            content=f"picked by {interaction.user.name}", view=None
        )


class DeleteButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"job:(?P<id>[0-9]+):delete",
):
    """A persistent button: its state lives in the custom_id, so it works after a restart."""

    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(label="Delete", custom_id=f"job:{job_id}:delete"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> DeleteButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()  # type 6 for a component
        await interaction.edit_original_response(content=f"job {self.job_id} deleted", view=None)


MODELS = ["gpt-image-1", "gpt-image-1-mini", "gpt-image-2"]


class ColorView(discord.ui.View):
    @discord.ui.select(options=[discord.SelectOption(label=c) for c in ("red", "blue")])
    async def color(
        self, interaction: discord.Interaction, select: discord.ui.Select[ColorView]
    ) -> None:
        await interaction.response.send_message(f"chose {select.values[0]}")


class TinyBot(commands.Bot):
    """A throwaway bot: one global and a few guild commands exercising every fake route."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            help_command=None,
        )
        self.guild = discord.Object(guild_id)
        self.errors: list[Exception] = []
        self.release = asyncio.Event()
        # Set once discord.py has stored the /buttons view: a click before that finds no view.
        self.view_stored = asyncio.Event()
        self.tree.on_error = self._record_error  # type: ignore[method-assign]
        self._add_commands()

    async def _record_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        self.errors.append(
            error.original if isinstance(error, app_commands.CommandInvokeError) else error
        )

    async def setup_hook(self) -> None:
        self.add_dynamic_items(DeleteButton)
        await self.tree.sync()
        await self.tree.sync(guild=self.guild)

    def _add_commands(self) -> None:
        tree, guild = self.tree, self.guild

        @tree.command(description="Answer at once")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        @tree.command(description="Defer, then edit the original with a PNG", guild=guild)
        @app_commands.describe(prompt="what to draw")
        async def draw(
            interaction: discord.Interaction, prompt: str, count: app_commands.Range[int, 1, 4] = 1
        ) -> None:
            await interaction.response.defer(thinking=True)
            files = [discord.File(io.BytesIO(png_bytes()), f"out{i}.png") for i in range(count)]
            await interaction.edit_original_response(content=f"drew {prompt}", attachments=files)

        @tree.command(description="Upload bytes of the given size", guild=guild)
        async def blob(interaction: discord.Interaction, size: int) -> None:
            await interaction.response.defer()
            data = discord.File(io.BytesIO(b"x" * size), "blob.bin")
            await interaction.edit_original_response(attachments=[data])

        @tree.command(description="Too slow to acknowledge", guild=guild)
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(3.2)
            await interaction.response.send_message("too late")

        @tree.command(description="Defer, wait for the test, then follow up", guild=guild)
        async def hold(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await self.release.wait()
            await interaction.followup.send("finally")

        @tree.command(description="Read an attachment", guild=guild)
        async def inspect(interaction: discord.Interaction, image: discord.Attachment) -> None:
            data = await image.read()
            echo = discord.File(io.BytesIO(data), "echo.png")
            await interaction.response.send_message(f"{image.content_type} {len(data)}", file=echo)

        @tree.command(description="Show a button", guild=guild)
        async def buttons(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("choose", view=PickView())
            self.view_stored.set()  # discord.py stores the view after the callback's answer

        @tree.command(description="Show a select menu", guild=guild)
        async def colors(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("colors", view=ColorView())

        @tree.command(description="Moderators only", guild=guild)
        @app_commands.default_permissions(manage_guild=True)
        async def stats(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(
                f"manage={interaction.permissions.manage_guild}"
            )

        @tree.command(description="Ask for a prompt", guild=guild)
        async def ask(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(PromptModal())

        @tree.command(description="Post a job with a persistent button", guild=guild)
        async def job(interaction: discord.Interaction, job_id: int) -> None:
            view = discord.ui.View(timeout=None).add_item(DeleteButton(job_id))
            await interaction.response.send_message(f"job {job_id}", view=view)

        @tree.command(description="Defer, then two followups", guild=guild)
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.followup.send(
                "one", file=discord.File(io.BytesIO(png_bytes()), "1.png")
            )
            await interaction.followup.send("two", ephemeral=True)

        @tree.command(description="Post in the channel, then edit keeping the file", guild=guild)
        async def post(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("posting", ephemeral=True)
            assert isinstance(interaction.channel, discord.TextChannel)
            first = discord.File(io.BytesIO(png_bytes()), "first.png")
            sent = await interaction.channel.send(f"{interaction.user.mention} here", file=first)
            second = discord.File(io.BytesIO(png_bytes(color="blue")), "second.png")
            await sent.edit(content="edited", attachments=[*sent.attachments, second])

        @tree.command(description="Choose a model", guild=guild)
        async def model(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(name)

        @model.autocomplete("name")
        async def model_names(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=m, value=m) for m in MODELS if current in m]

        @tree.context_menu(name="Edit image", guild=guild)
        async def edit_image(interaction: discord.Interaction, message: discord.Message) -> None:
            sizes = [len(await a.read()) for a in message.attachments]
            await interaction.response.send_message(f"{len(sizes)} images {sizes}", ephemeral=True)


@contextlib.asynccontextmanager
async def running(
    fake: FakeDiscord, guild: FakeGuild, bot: TinyBot | None = None
) -> AsyncIterator[TinyBot]:
    """Start a TinyBot against the fake; close it (and wait for it) on exit."""
    bot = bot or TinyBot(guild.id)
    async with bot:
        task = asyncio.create_task(bot.start(fake.token))
        ready = asyncio.create_task(bot.wait_until_ready())
        await asyncio.wait({task, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            task.cancel()
            raise AssertionError(
                f"the bot did not get ready: {task.exception() if task.done() else 'timeout'}"
            )
        try:
            yield bot
        finally:
            await bot.close()
            await task


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        with server.patch_discord_py():
            yield server


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    return fake.add_guild("Fake Guild")


@pytest.fixture
def alice(fake: FakeDiscord, guild: FakeGuild) -> FakeMember:
    return fake.add_member(guild, "alice", global_name="Alice")


@pytest.fixture
async def bot(fake: FakeDiscord, guild: FakeGuild) -> AsyncIterator[TinyBot]:
    async with running(fake, guild) as tiny:
        yield tiny


async def test_login_populates_the_guild_cache(
    fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
):
    async with running(fake, guild) as bot:
        cached = bot.get_guild(guild.id)
        assert cached is not None and cached.name == "Fake Guild"
        assert cached.me is not None and cached.me.guild_permissions.attach_files
        assert [c.name for c in cached.text_channels] == ["general"]
        assert bot.application_id == fake.application_id
    assert fake.gateway.identify_count == 1
    fake.assert_no_violations()


async def test_command_sync_is_stored_with_ids(fake: FakeDiscord, guild: FakeGuild, bot: TinyBot):
    assert [c["name"] for c in fake.synced_commands()] == ["ping"]
    draw = next(c for c in fake.synced_commands(guild) if c["name"] == "draw")
    assert int(draw["id"]) > 0
    assert [(o["name"], o.get("required", False)) for o in draw["options"]] == [
        ("prompt", True),
        ("count", False),
    ]
    with pytest.raises(AssertionError, match="never synced"):
        await fake.slash("nope", member=fake.world.bot_member(guild.id))


async def test_slash_refuses_options_no_client_could_send(bot: TinyBot, fake: FakeDiscord, alice):
    with pytest.raises(AssertionError, match="required options missing"):
        await fake.slash("draw", {}, member=alice)
    with pytest.raises(AssertionError, match="no option 'size'"):
        await fake.slash("draw", {"prompt": "x", "size": "big"}, member=alice)
    with pytest.raises(AssertionError, match=r"outside 1\.\.4"):
        await fake.slash("draw", {"prompt": "x", "count": 9}, member=alice)


async def test_global_command_reply_is_ephemeral(bot: TinyBot, fake: FakeDiscord, alice):
    handle = await fake.slash("ping", member=alice)
    response = await handle.wait_response()
    assert response.type == 4
    assert handle.original is not None and handle.original.content == "pong"
    assert handle.original.ephemeral
    assert "guild_id" not in handle.payload["data"]  # synced globally
    assert handle.ack_latency is not None and handle.ack_latency < 1.0


async def test_defer_then_edit_with_png_comes_back_decoded(bot: TinyBot, fake: FakeDiscord, alice):
    handle = await fake.slash("draw", {"prompt": "a fox", "count": 2}, member=alice)
    assert (await handle.wait_response()).type == 5
    message = await handle.wait_original(lambda m: m.attachments)
    assert message.content == "drew a fox" and not message.loading
    assert [a.filename for a in message.attachments] == ["out0.png", "out1.png"]
    png = message.file("out0.png")
    assert png.content_type == "image/png"
    assert png.open_image().size == (8, 8)
    assert handle.payload["data"]["guild_id"] == str(fake.world.only_guild().id)
    fake.assert_no_violations()


async def test_late_acknowledgement_is_refused_with_10062(bot: TinyBot, fake: FakeDiscord, alice):
    handle = await fake.slash("slow", member=alice)
    response = await handle.wait_response(timeout=5, allow_refused=True)
    assert not response.accepted and response.error_code == 10062
    assert response.latency > 3.0
    assert [(v.status, v.code, v.interaction_id) for v in fake.violations] == [
        (404, 10062, handle.id)
    ]
    await fake.wait_until(lambda: bot.errors, what="the bot's error")
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062


async def test_followup_after_token_expiry_is_refused_with_50027(
    bot: TinyBot, fake: FakeDiscord, alice
):
    handle = await fake.slash("hold", member=alice)
    await handle.wait_response()
    fake.advance(16 * 60)
    bot.release.set()
    await fake.wait_until(lambda: bot.errors, what="the bot's error")
    assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].code == 50027
    assert [(v.status, v.code) for v in fake.violations] == [(401, 50027)]
    assert handle.original is not None and handle.original.loading  # never replaced


async def test_file_over_the_interaction_limit_is_refused_with_40005(bot: TinyBot, fake, alice):
    limit = 1024 * 1024
    handle = await fake.slash(
        "blob", {"size": limit + 1}, member=alice, attachment_size_limit=limit
    )
    await fake.wait_until(lambda: bot.errors, what="the bot's error")
    assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].status == 413
    assert [(v.code, v.interaction_id) for v in fake.violations] == [(40005, handle.id)]

    ok = await fake.slash("blob", {"size": limit}, member=alice, attachment_size_limit=limit)
    message = await ok.wait_original(lambda m: m.attachments)
    assert message.attachments[0].size == limit


async def test_attachment_option_is_served_by_the_cdn(bot: TinyBot, fake: FakeDiscord, alice):
    upload = fake.add_attachment("in.png", png_bytes((16, 16)))
    handle = await fake.slash("inspect", attachments={"image": upload}, member=alice)
    message = await handle.wait_original()
    assert message.content == f"image/png {len(png_bytes((16, 16)))}"
    assert message.file("echo.png").data == png_bytes((16, 16))  # multipart callback
    resolved = handle.payload["data"]["resolved"]["attachments"][upload["id"]]
    assert resolved["width"] == 16 and resolved["url"].startswith(fake.base_url)


async def test_button_click_round_trip(bot: TinyBot, fake: FakeDiscord, alice, guild):
    handle = await fake.slash("buttons", member=alice)
    message = await handle.wait_original()
    assert [b["label"] for b in message.buttons] == ["Pick"]
    # A member sees the message before the bot has read the callback's answer; wait for that.
    await asyncio.wait_for(bot.view_stored.wait(), timeout=5)
    bob = fake.add_member(guild, "bob")
    click = await fake.click(message, member=bob, label="Pick")
    assert (await click.wait_response()).type == 7
    await fake.wait_for_message(lambda m: m.id == message.id and m.content == "picked by bob")
    assert message.components == [] and len(message.revisions) == 2
    fake.assert_no_violations()


async def test_select_round_trip(bot: TinyBot, fake: FakeDiscord, alice):
    message = await (await fake.slash("colors", member=alice)).wait_original()
    with pytest.raises(AssertionError, match="offers"):
        await fake.select(message, ["green"], member=alice)
    choice = await fake.select(message, ["blue"], member=alice)
    assert (await choice.wait_original()).content == "chose blue"


async def test_default_member_permissions_follow_roles(bot: TinyBot, fake, guild, alice):
    with pytest.raises(AssertionError, match="cannot see it"):
        await fake.slash("stats", member=alice)
    forced = await fake.slash("stats", member=alice, override_permissions=True)
    assert (await forced.wait_original()).content == "manage=False"
    fake.set_roles(alice, [fake.add_role(guild, "mods", discord.Permissions(manage_guild=True))])
    allowed = await fake.slash("stats", member=alice)
    assert (await allowed.wait_original()).content == "manage=True"
    admin = fake.add_member(guild, "root", roles=[fake.add_role(guild, "admin", 1 << 3)])
    assert int((await fake.slash("stats", member=admin)).payload["member"]["permissions"]) == (
        discord.Permissions.all().value
    )


async def test_modal_submit_round_trip(bot: TinyBot, fake: FakeDiscord, alice):
    handle = await fake.slash("ask", member=alice)
    modal = await handle.wait_modal()
    assert modal["title"] == "New prompt"
    with pytest.raises(AssertionError, match="required"):
        await fake.submit_modal(handle, {})
    submit = await fake.submit_modal(handle, {"Prompt": "a heron"})
    answer = await submit.wait_original()
    assert answer.content == "prompt was a heron"


async def test_message_context_menu_reads_the_target_images(bot: TinyBot, fake, alice):
    posted = await fake.post_message(
        alice, "look", files=[("a.png", png_bytes()), ("b.png", b"12")]
    )
    handle = await fake.context_menu("Edit image", posted, member=alice)
    answer = await handle.wait_original()
    assert answer.content == f"2 images [{len(png_bytes())}, 2]" and answer.ephemeral
    assert handle.payload["data"]["target_id"] == str(posted.id)

    drawn = await (await fake.slash("draw", {"prompt": "x"}, member=alice)).wait_original()
    again = await fake.context_menu("Edit image", drawn, member=alice)
    assert (await again.wait_original()).content == f"1 images [{len(png_bytes())}]"


async def test_second_acknowledgement_is_refused_with_40060(bot: TinyBot, fake, alice):
    handle = await fake.slash("ping", member=alice)
    await handle.wait_response()
    url = f"{fake.api_base}/interactions/{handle.id}/{handle.token}/callback"
    async with aiohttp.ClientSession() as session:
        body = {"type": 4, "data": {"content": "again"}}
        async with session.post(url, json=body) as reply:
            assert reply.status == 400
            assert reply.headers["Content-Type"] == "application/json"
            assert (await reply.json())["code"] == 40060
    assert [v.code for v in fake.violations] == [40060]


async def test_content_over_2000_characters_is_refused_with_50035(fake: FakeDiscord, guild, alice):
    bot = TinyBot(guild.id)

    @bot.tree.command(description="Say too much", guild=bot.guild)
    async def chatty(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("x" * 2001)

    async with running(fake, guild, bot):
        handle = await fake.slash("chatty", member=alice)
        refused = await handle.wait_response(allow_refused=True)
        assert refused.error_code == 50035 and "content" in fake.violations[0].detail
        assert handle.original is None


async def test_restart_against_the_same_fake(fake: FakeDiscord, guild: FakeGuild, alice):
    async with running(fake, guild):
        first = await fake.slash("job", {"job_id": 7}, member=alice)
        posted = await first.wait_original()
    async with running(fake, guild) as second_bot:
        assert second_bot.get_guild(guild.id) is not None
        click = await fake.click(posted, member=alice, label="Delete")
        assert (await click.wait_response()).type == 6
        await fake.wait_for_message(lambda m: m.id == posted.id and m.content == "job 7 deleted")
        assert posted.buttons == []
    assert fake.gateway.identify_count == 2
    fake.assert_no_violations()


async def test_first_followup_after_defer_replaces_the_thinking_message(bot, fake, alice):
    handle = await fake.slash("twice", member=alice)
    second = await handle.wait_followup()
    original = handle.original
    assert original is not None and original.content == "one" and not original.loading
    assert [a.filename for a in original.attachments] == ["1.png"]
    assert second.content == "two" and second.ephemeral
    fake.assert_no_violations()


async def test_channel_message_edit_keeps_listed_attachments(bot, fake: FakeDiscord, guild, alice):
    handle = await fake.slash("post", member=alice)
    message = await fake.wait_for_message(lambda m: m.content == "edited")
    assert [a.filename for a in message.attachments] == ["first.png", "second.png"]
    assert message.revisions[0]["content"] == f"<@{alice.id}> here"
    assert message.file("second.png").open_image().getpixel((0, 0)) == (0, 0, 255)
    assert not message.ephemeral and handle.original is not None and handle.original.ephemeral
    assert fake.channel_messages(guild.text_channels[0]) == [message]
    fake.assert_no_violations()


async def test_channel_upload_over_the_guild_limit_is_refused(fake: FakeDiscord, alice):
    guild = fake.world.only_guild()
    guild.filesize_limit = 10  # smaller than the PNGs the bot posts
    async with running(fake, guild) as bot:
        await fake.slash("post", member=alice)
        await fake.wait_until(lambda: bot.errors, what="the bot's error")
    assert [(v.status, v.code, v.path) for v in fake.violations] == [
        (413, 40005, f"/api/v10/channels/{guild.text_channels[0].id}/messages")
    ]


async def test_autocomplete_returns_the_bots_choices(bot: TinyBot, fake: FakeDiscord, alice):
    handle = await fake.autocomplete("model", "name", "mini", member=alice)
    assert (await handle.wait_response()).type == 8
    assert handle.choices == [{"name": "gpt-image-1-mini", "value": "gpt-image-1-mini"}]


async def test_resume_after_a_dropped_connection(bot: TinyBot, fake: FakeDiscord, alice):
    await fake.drop_connections(4000)
    await fake.wait_until(lambda: fake.gateway.resume_count == 1, what="a RESUME")
    handle = await fake.slash("ping", member=alice)
    await handle.wait_response()


EMBED_TITLE_TOO_LONG = {"embeds": [{"title": "t" * 257}]}
EMBEDS_TOO_BIG = {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}


@pytest.mark.parametrize(
    ("body", "files", "status", "code"),
    [
        (EMBED_TITLE_TOO_LONG, 0, 400, 50035),
        (EMBEDS_TOO_BIG, 0, 400, 50035),
        ({"content": ""}, 0, 400, 50006),
        ({"content": "ok"}, 11, 400, 30015),
        ({"content": "ok"}, 10, 200, None),
    ],
)
async def test_channel_messages_apply_discords_limits(fake, guild, body, files, status, code):
    channel = guild.text_channels[0]
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps(body))
    for index in range(files):
        form.add_field(f"files[{index}]", b"x", filename=f"{index}.txt")
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        url = f"{fake.api_base}/channels/{channel.id}/messages"
        async with session.post(url, data=form) as reply:
            assert reply.headers["Content-Type"] == "application/json"
            assert (reply.status, (await reply.json()).get("code")) == (status, code)
    assert [v.code for v in fake.violations] == ([code] if code else [])


async def test_unknown_routes_and_bad_tokens_get_discord_errors(fake: FakeDiscord):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_base}/users/@me") as reply:
            assert reply.status == 401
        async with session.get(f"{fake.api_base}/nothing/here") as reply:
            assert (reply.status, reply.headers["Content-Type"]) == (404, "application/json")
    assert [(v.status, v.path) for v in fake.violations] == [
        (401, "/api/v10/users/@me"),
        (404, "/api/v10/nothing/here"),
    ]
