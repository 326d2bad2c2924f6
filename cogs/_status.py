"""A job's status message while its interaction lives: throttled edits, previews, then done."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import discord

from bot.clock import Clock
from bot.imaging.uploads import EncodedFile
from cogs import _render
from cogs._reply import Reply

log = logging.getLogger(__name__)

STATUS_EDIT_INTERVAL = 3.0  # seconds between status edits of one job (webhook rate limits)


@dataclass(frozen=True, slots=True)
class Status:
    """What the status message should show: a line, and a preview image while rendering."""

    text: str
    preview: EncodedFile | None = None


class Origin:
    """The reply (cogs/_reply.py) whose original response shows a job, and its edit throttle.

    The command's own reply counts as the first edit; later statuses go out at most one per
    STATUS_EDIT_INTERVAL, never two at once, the latest one winning, and never after `close`.
    One task per message (while something is pending) makes the edits.
    """

    def __init__(self, reply: Reply, clock: Clock) -> None:
        self.reply = reply
        self.acknowledged = asyncio.Event()
        self.private = False  # the status message is ephemeral: the result goes in a new message
        self._clock = clock
        self._shown: str | None = None  # the line the message shows now
        self._last_edit = float("-inf")
        self._pending: Status | None = None
        self._flusher: asyncio.Task[None] | None = None  # shows `_pending` when its time comes
        self._editing = False  # an edit is on its way (it must land before the final message)
        self._closed = False

    def acknowledge(self, *, private: bool, shown: str) -> None:
        """The command's reply, showing `shown`, is out."""
        self.private = private
        self._shown = shown
        self._last_edit = self._clock.monotonic()
        self.acknowledged.set()

    def resume(self, *, private: bool) -> None:
        """Rebuilt in a process that did not receive the interaction: the command's reply went
        out within Discord's 3 s of its creation, so the throttle counts from then."""
        age = (self._clock.now() - self.reply.created_at).total_seconds()
        self.private = private
        self._last_edit = self._clock.monotonic() - age
        self.acknowledged.set()

    async def show(self, status: Status) -> None:
        """Show `status` as soon as the edit interval allows (a later one replaces it)."""
        if self._closed or (status.preview is None and status.text == self._shown):
            self._pending = None  # what the message shows is current again
            return
        self._pending = status
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_pending())
        if self._last_edit + STATUS_EDIT_INTERVAL <= self._clock.monotonic():
            await asyncio.sleep(0)  # let an edit that is due start before the caller goes on

    async def close(self) -> None:
        """No more statuses; an edit already under way lands before the caller's final one."""
        self._closed = True
        self._pending = None
        if self._flusher is not None:
            if not self._editing:
                self._flusher.cancel()
            await asyncio.wait({self._flusher})

    def stop(self) -> None:
        """No more edits without waiting for one under way (its token expired, or the bot is
        closing)."""
        self._closed = True
        self._pending = None
        if self._flusher is not None and not self._editing:
            self._flusher.cancel()

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
        self._shown = status.text
        preview = status.preview
        files = _render.to_files([preview]) if preview else discord.utils.MISSING  # keep files
        self._editing = True
        try:
            await self.reply.edit(content=status.text, attachments=files)
        except discord.HTTPException as exc:
            log.info("status edit failed: %s", exc)
        finally:
            self._editing = False
