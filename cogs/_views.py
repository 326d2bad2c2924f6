"""Buttons that survive restarts (the job id lives in the custom_id) and the Edit modal."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import discord

from cogs.errors import report_error

ACTIONS_COG = "Images"


class ButtonActions(Protocol):
    """What the Images cog does when one of these buttons is clicked."""

    async def on_button(self, action: str, interaction: discord.Interaction, job_id: int) -> None:
        """Run the button's action for this job."""


# action -> (label, emoji, style)
BUTTON_LOOKS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("Re-roll", "🎲", discord.ButtonStyle.secondary),
    "edit": ("Edit", "✏️", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
    "cancel": ("Cancel", "✖️", discord.ButtonStyle.secondary),
}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"img:(?P<action>reroll|edit|delete|cancel):(?P<job_id>[0-9]+)",
):
    """A button bound to an action and a job id; nothing else is needed to handle a click."""

    def __init__(self, action: str, job_id: int, *, label: str | None = None) -> None:
        text, emoji, style = BUTTON_LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label or text, emoji=emoji, style=style, custom_id=f"img:{action}:{job_id}"
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(match["action"], int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        actions = cast("ButtonActions | None", interaction.client.get_cog(ACTIONS_COG))  # type: ignore[attr-defined]
        try:
            if actions is None:
                raise RuntimeError("the Images cog is not loaded")
            if interaction.guild_id is not None:  # buttons skip the command tree's gate
                await interaction.client.services.access.check(interaction.guild_id)  # type: ignore[attr-defined]
            await actions.on_button(self.action, interaction, self.job_id)
        except Exception as exc:
            await report_error(interaction, exc)


def result_view(job_id: int) -> discord.ui.View:
    """Re-roll, Edit and Delete for a result message."""
    view = discord.ui.View(timeout=None)
    for action in ("reroll", "edit", "delete"):
        view.add_item(JobButton(action, job_id))
    return view


def reroll_view(job_id: int) -> discord.ui.View:
    """Re-roll alone: for a job that made no image (e.g. its answer was lost)."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("reroll", job_id))
    return view


def cancel_view(job_ids: list[int]) -> discord.ui.View:
    """One cancel button per queued job (Discord allows 25 per message)."""
    view = discord.ui.View(timeout=None)
    for job_id in job_ids[:25]:
        view.add_item(JobButton("cancel", job_id, label=f"Cancel #{job_id}"))
    return view


@dataclass(frozen=True)
class EditAnswers:
    """What the Edit modal gave: the prompt and the files uploaded in it (discord.py 2.7's
    FileUpload): a markup, a mask and more reference images, each optional."""

    prompt: str
    markup: discord.Attachment | None = None
    mask: discord.Attachment | None = None
    more: tuple[discord.Attachment, ...] = ()


EditAction = Callable[[discord.Interaction, EditAnswers], Awaitable[None]]


class EditModal(discord.ui.Modal):
    """Asks for a prompt and, optionally, a markup, a mask and more images (file uploads),
    then runs `on_submit_edit` with the modal's own interaction."""

    def __init__(
        self, *, title: str, on_edit: EditAction, default: str | None = None, more: int = 3
    ) -> None:
        super().__init__(title=title, timeout=600)
        self._on_edit = on_edit
        self.prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=4000,
            placeholder="Describe the change you want",
            default=default[:4000] if default else None,
        )
        self.markup = discord.ui.FileUpload[EditModal](required=False, max_values=1)
        self.mask = discord.ui.FileUpload[EditModal](required=False, max_values=1)
        self.more = discord.ui.FileUpload[EditModal](required=False, max_values=max(1, more))
        self.add_item(discord.ui.Label(text="Prompt", component=self.prompt))
        self.add_item(
            discord.ui.Label(
                text="Markup (optional)",
                description="A transparent PNG drawn over the image: circle what to change.",
                component=self.markup,
            )
        )
        self.add_item(
            discord.ui.Label(
                text="Mask (optional)",
                description="Where the image may change (transparent or white); no markup then.",
                component=self.mask,
            )
        )
        self.add_item(
            discord.ui.Label(text="More reference images (optional)", component=self.more)
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        answers = EditAnswers(
            prompt=self.prompt.value,
            markup=next(iter(self.markup.values), None),
            mask=next(iter(self.mask.values), None),
            more=tuple(self.more.values),
        )
        await self._on_edit(interaction, answers)

    async def on_error(  # type: ignore[override]  # discord.py's Modal narrows BaseView's hook
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error)
