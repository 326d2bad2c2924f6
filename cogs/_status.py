"""A job's status message while its interaction lives: throttled edits, previews, then done."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import discord

from bot.clock import Clock
from bot.imaging.uploads import EncodedFile
from cogs import _render

log = logging.getLogger(__name__)

STATUS_EDIT_INTERVAL = 3.0  # seconds between status edits of one job (webhook rate limits)
# A waiting job's message shows a new position once it moved by a tenth of the shown one (every
# move in the last 19 places): in a long queue every admission elsewhere shifts many jobs back
# by one place, and an edit for each would cost more than the admissions themselves.
POSITION_STEP = 10


def worth_showing(shown: int | None, new: int | None) -> bool:
    """Whether a waiting job's move from place `shown` to `new` deserves an edit."""
    if shown is None or new is None:
        return True
    return abs(new - shown) >= max(1, shown // POSITION_STEP)


@dataclass(frozen=True, slots=True)
class Status:
    """What the status message should show: a line, and a preview image while rendering."""

    text: str
    preview: EncodedFile | None = None
    position: int | None = None  # the queue position `text` shows, while the job waits


class Origin:
    """The interaction whose original response shows a job, and that message's edit throttle.

    The command's own reply counts as the first edit; later statuses go out at most one per
    STATUS_EDIT_INTERVAL, never two at once, the latest one winning, and never after `close`.
    One task per message (while something is pending) makes the edits.
    """

    def __init__(self, interaction: discord.Interaction, clock: Clock) -> None:
        self.interaction = interaction
        self.acknowledged = asyncio.Event()
        self.private = False  # the status message is ephemeral: the result goes in a new message
        self._clock = clock
        self._shown = Status("")  # what the message shows now
        self._last_edit = float("-inf")
        self._pending: Status | None = None
        self._flusher: asyncio.Task[None] | None = None  # shows `_pending` when its time comes
        self._editing = False  # an edit is on its way (it must land before the final message)
        self._closed = False

    def acknowledge(self, *, private: bool, shown: str, position: int | None = None) -> None:
        """The command's reply, showing `shown` (a waiting job at `position`), is out."""
        self.private = private
        self._shown = Status(shown, position=position)
        self._last_edit = self._clock.monotonic()
        self.acknowledged.set()

    async def show(self, status: Status) -> None:
        """Show `status` as soon as the edit interval allows (a later one replaces it)."""
        if self._closed or not self._differs(status):
            self._pending = None  # what the message shows is current (enough) again
            return
        self._pending = status
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_pending())
        if self._last_edit + STATUS_EDIT_INTERVAL <= self._clock.monotonic():
            await asyncio.sleep(0)  # let an edit that is due start before the caller goes on

    def _differs(self, status: Status) -> bool:
        shown = self._shown
        if status.preview is not None or status.text == shown.text:
            return status.preview is not None
        if status.position is not None and shown.position is not None:
            return worth_showing(shown.position, status.position)
        return True

    async def close(self) -> None:
        """No more statuses; an edit already under way lands before the caller's final one."""
        self._closed = True
        self._pending = None
        if self._flusher is not None:
            if not self._editing:
                self._flusher.cancel()
            await asyncio.wait({self._flusher})

    async def _flush_pending(self) -> None:
        try:
            while self._pending is not None:
                wait = self._last_edit + STATUS_EDIT_INTERVAL - self._clock.monotonic()
                if wait > 0:
                    await self._clock.sleep(wait)
                await self._flush()
        finally:
            self._flusher = None

    async def _flush(self) -> None:
        status, self._pending = self._pending, None
        if status is None:
            return
        self._last_edit = self._clock.monotonic()
        self._shown = Status(status.text, position=status.position)
        preview = status.preview
        files = _render.to_files([preview]) if preview else discord.utils.MISSING  # keep files
        self._editing = True
        try:
            await self.interaction.edit_original_response(content=status.text, attachments=files)
        except discord.HTTPException as exc:
            log.info("status edit failed: %s", exc)
        finally:
            self._editing = False
