"""/imagine, /edit, the Edit image message menu, and the result buttons."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.choices import options_for
from bot.domain import Choices, InputImage, Operation
from bot.errors import InvalidImageError, PermissionDeniedError
from bot.imaging import intake
from bot.jobs.models import Submission
from cogs import _choices, _sources
from cogs._delivery import Delivery
from cogs._flow import admit, can_manage_messages, is_moderator, member_role_ids
from cogs._views import EditAnswers, EditModal, JobButton
from cogs.errors import send_private

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

MAX_MENU_IMAGES = 10  # README: the Edit image menu takes up to 10 images, in order


class Images(commands.Cog):
    """Generate and edit images."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.delivery = Delivery(bot)
        self.edit_menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image)
        self.edit_menu.guild_only = True
        _choices.fit_to_provider(self.imagine, bot.services.openai.profile)
        _choices.fit_to_provider(self.edit, bot.services.openai.profile)

    async def cog_load(self) -> None:
        self.services.job_queue.set_sink(self.delivery)
        self.bot.add_dynamic_items(JobButton)
        self.bot.tree.add_command(self.edit_menu)

    async def cog_unload(self) -> None:
        self.delivery.origins.stop_all()
        self.bot.tree.remove_command(self.edit_menu.name, type=self.edit_menu.type)
        self.bot.remove_dynamic_items(JobButton)

    # mypy cannot fit discord.py's ParamSpec to a callback with **kwargs and no *args.
    @app_commands.command(name="imagine")  # type: ignore[arg-type]
    @app_commands.guild_only()
    @_choices.member_options(options_for("generate"))
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 4000],
        **picked: Any,
    ) -> None:
        """Generate images from a prompt.

        Args:
            prompt: What to draw (up to 4000 characters).
        """
        choices = Choices.from_options(prompt, picked)  # the options of bot/choices.py

        async def prepare() -> Submission:
            return self._submission(interaction, "generate", choices)

        await admit(interaction, self.delivery, prepare)

    # mypy cannot fit discord.py's ParamSpec to a callback with **kwargs and no *args.
    @app_commands.command(name="edit")  # type: ignore[arg-type]
    @app_commands.guild_only()
    @_choices.member_options(options_for("edit"))
    async def edit(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 4000],
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        mask: discord.Attachment | None = None,
        markup: discord.Attachment | None = None,
        **picked: Any,
    ) -> None:
        """Edit your images with a prompt; a mask marks the area of the first image to change.

        Args:
            prompt: The change you want (up to 4000 characters).
            image: The image to edit (PNG, JPEG, WebP, HEIC, AVIF; others are converted).
            image2: Another reference image.
            image3: Another reference image.
            image4: Another reference image.
            mask: Where the first image may change (transparent or white): a guide, not a fence.
            markup: A transparent PNG drawn over the first image, showing what to change.
        """
        choices = Choices.from_options(prompt, picked)  # the options of bot/choices.py
        attachments = [a for a in (image, image2, image3, image4) if a is not None]
        extras = [a for a in (mask, markup) if a is not None]
        intake.check_declared([_declared(a) for a in [*attachments, *extras]])

        async def prepare() -> Submission:
            await self._check_room(interaction)  # before downloading what would be refused
            images = await intake.prepare_inputs([await _download(a) for a in attachments])
            first = (images[0].width, images[0].height)
            prepared_mask = prepared_markup = None
            if mask is not None:
                prepared_mask = await intake.prepare_mask(await _download(mask), first)
            if markup is not None:
                prepared_markup = await intake.prepare_markup(await _download(markup), first)
            return self._submission(
                interaction,
                "edit",
                choices,
                images=tuple(images),
                mask=prepared_mask,
                markup=prepared_markup,
            )

        await admit(interaction, self.delivery, prepare)

    async def edit_image(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Message menu: edit the images of this message (its attachments, the images of a
        forwarded message, image links) with a prompt from a modal."""
        found = _sources.message_images(message)[:MAX_MENU_IMAGES]
        if not found:
            await send_private(interaction, _sources.NO_IMAGES)
            return
        intake.check_declared([image.declared for image in found])

        async def on_edit(modal_interaction: discord.Interaction, answers: EditAnswers) -> None:
            _declare_uploads(answers)

            async def prepare() -> Submission:
                await self._check_room(modal_interaction)
                client = modal_interaction.client
                blobs = [await _sources.download(client, image) for image in found]
                blobs += [await _download(a) for a in answers.more]
                images = tuple(await intake.prepare_inputs(blobs))
                choices = Choices(prompt=answers.prompt)  # the guild's defaults for every option
                submission = self._submission(modal_interaction, "edit", choices, images=images)
                return await _with_uploads(submission, answers)

            await admit(modal_interaction, self.delivery, prepare)

        await interaction.response.send_modal(EditModal(title="Edit image", on_edit=on_edit))

    async def _check_room(self, interaction: discord.Interaction) -> None:
        await self.services.jobs.check_room(interaction.guild_id or 0, interaction.user.id)

    # --- buttons ---------------------------------------------------------------------------

    async def on_button(self, action: str, interaction: discord.Interaction, job_id: int) -> None:
        """Re-roll, Edit, Delete and Cancel, for buttons that may predate this process."""
        handler = {
            "reroll": self._reroll,
            "edit": self._edit_result,
            "delete": self._delete_result,
            "cancel": self._cancel,
        }[action]
        await handler(interaction, job_id)

    async def _reroll(self, interaction: discord.Interaction, job_id: int) -> None:
        async def prepare() -> Submission:
            return await self.services.jobs.resubmission(
                job_id,
                guild_id=_guild_id(interaction),
                user_id=interaction.user.id,
                role_ids=member_role_ids(interaction),
            )

        await admit(interaction, self.delivery, prepare)

    async def _edit_result(self, interaction: discord.Interaction, job_id: int) -> None:
        job = await self.services.jobs.get(job_id, guild_id=_guild_id(interaction))

        async def on_edit(modal_interaction: discord.Interaction, answers: EditAnswers) -> None:
            _declare_uploads(answers)

            async def prepare() -> Submission:
                submission = await self.services.jobs.resubmission(
                    job_id,
                    guild_id=_guild_id(modal_interaction),
                    user_id=modal_interaction.user.id,
                    role_ids=member_role_ids(modal_interaction),
                    prompt=answers.prompt,
                    use_result_as_input=True,
                )
                more = await intake.prepare_inputs([await _download(a) for a in answers.more])
                submission = replace(submission, images=(*submission.images, *more))
                return await _with_uploads(submission, answers)

            await admit(modal_interaction, self.delivery, prepare)

        modal = EditModal(title=f"Edit job #{job.id}", on_edit=on_edit, default=job.prompt)
        await interaction.response.send_modal(modal)

    async def _delete_result(self, interaction: discord.Interaction, job_id: int) -> None:
        job = await self.services.jobs.get(job_id, guild_id=_guild_id(interaction))
        if interaction.user.id != job.user_id and not can_manage_messages(interaction):
            raise PermissionDeniedError("delete someone else's image")
        await interaction.response.defer()
        if interaction.message is not None:
            with contextlib.suppress(discord.NotFound):
                await interaction.message.delete()
        # Delete means gone: the kept result and the member's input photos too (README).
        await self.services.retention.forget(job.id)

    async def _cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        job = await self.services.jobs.cancel(
            job_id,
            guild_id=_guild_id(interaction),
            user_id=interaction.user.id,
            is_moderator=is_moderator(interaction),
        )
        await send_private(interaction, f"Cancelled job #{job.id}; nothing was charged.")

    # --- helpers ---------------------------------------------------------------------------

    def _submission(
        self,
        interaction: discord.Interaction,
        operation: Operation,
        choices: Choices,
        *,
        images: tuple[InputImage, ...] = (),
        mask: InputImage | None = None,
        markup: InputImage | None = None,
    ) -> Submission:
        """The member's request with their ids, in the interaction's guild and channel."""
        return Submission(
            guild_id=_guild_id(interaction),
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            role_ids=member_role_ids(interaction),
            operation=operation,
            choices=choices,
            images=images,
            mask=mask,
            markup=markup,
        )


def _declare_uploads(answers: EditAnswers) -> None:
    """Refuse by name, before any download, a modal upload that is not an image."""
    uploads = [a for a in (answers.markup, answers.mask, *answers.more) if a is not None]
    intake.check_declared([_declared(a) for a in uploads])


async def _with_uploads(submission: Submission, answers: EditAnswers) -> Submission:
    """The submission with the modal's mask and markup, fitted to its first image."""
    if not submission.images:
        return submission
    first = (submission.images[0].width, submission.images[0].height)
    mask = markup = None
    if answers.mask is not None:
        mask = await intake.prepare_mask(await _download(answers.mask), first)
    if answers.markup is not None:
        markup = await intake.prepare_markup(await _download(answers.markup), first)
    return replace(submission, mask=mask or submission.mask, markup=markup)


def _guild_id(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:  # every command here is guild-only
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def _declared(attachment: discord.Attachment) -> intake.DeclaredFile:
    return intake.DeclaredFile(
        filename=attachment.filename, size=attachment.size, content_type=attachment.content_type
    )


async def _download(attachment: discord.Attachment) -> intake.Blob:
    """Read the interaction's own attachment (its URL came with the interaction)."""
    try:
        data = await attachment.read()
    except discord.HTTPException as exc:
        raise InvalidImageError(attachment.filename, "I could not download it") from exc
    return intake.Blob(filename=attachment.filename, data=data)


async def setup(bot: ImageBot) -> None:
    """Load the Images cog."""
    await bot.add_cog(Images(bot))
