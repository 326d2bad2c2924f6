"""Records' reprs: an interaction's token, a credential, never shows."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.records import InteractionOrigin

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQ"  # the shape of one; not a real credential


def test_an_origins_repr_names_the_job_but_never_the_token() -> None:
    origin = InteractionOrigin(41, 2**62, TOKEN, datetime(2026, 11, 16, tzinfo=UTC), False)
    shown = repr(origin)
    assert "job_id=41" in shown
    assert TOKEN not in shown and "token" not in shown
