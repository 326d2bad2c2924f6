"""The error handler under overload: an interaction that expired gets one log line, no reply."""

from __future__ import annotations

import logging
import types
from typing import Any, cast

import discord
import pytest

from cogs.errors import report_error


class Response:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def is_done(self) -> bool:
        return False

    async def send_message(self, text: str, **_: Any) -> None:
        self.sent.append(text)


def interaction() -> Any:
    return types.SimpleNamespace(
        response=Response(),
        command=types.SimpleNamespace(qualified_name="imagine"),
        data={},
        guild_id=1,
        channel_id=2,
        user=types.SimpleNamespace(id=3),
    )


def http_error(kind: type[discord.HTTPException], status: int, code: int) -> discord.HTTPException:
    response = types.SimpleNamespace(status=status, reason="Not Found")
    return kind(cast(Any, response), {"code": code, "message": "Unknown interaction"})


async def test_an_expired_interaction_is_one_warning_without_a_traceback_or_a_reply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expired = interaction()
    with caplog.at_level(logging.WARNING, logger="cogs.errors"):
        await report_error(
            cast(discord.Interaction, expired), http_error(discord.NotFound, 404, 10062)
        )
    assert expired.response.sent == []
    [line] = caplog.records
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "/imagine expired before it was answered" in line.getMessage()


async def test_another_not_found_is_still_a_bug_with_a_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = interaction()
    with caplog.at_level(logging.WARNING, logger="cogs.errors"):
        await report_error(
            cast(discord.Interaction, other), http_error(discord.NotFound, 404, 10008)
        )
    assert other.response.sent and "reference" in other.response.sent[0]
    assert caplog.records[0].exc_info is not None
