"""The CSV export names members beside their ids, as text a spreadsheet never rounds (issue 22,
case 23)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.e2e.harness import harness, slash

pytestmark = pytest.mark.e2e


async def test_the_export_names_each_member_beside_the_id(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await h.wait_result(await h.imagine("a kite", quality="low"))
        await h.wait_result(await h.imagine("a boat", member=h.bob, quality="low"))
        handle = await slash(h, "usage", h.mod, period="today", export=True)
        reply = await handle.wait_original(lambda m: bool(m.attachments), timeout=15)
        [export] = [a for a in reply.attachments if a.filename.endswith(".csv")]
        rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8"))))
        assert {row["user"] for row in rows} == {
            f"Alice (id {h.alice.id})",
            f"Bob (id {h.bob.id})",
        }
        assert {row["user_id"] for row in rows} == {str(h.alice.id), str(h.bob.id)}
