"""The member's safety identifier: stable, salted per install, never the Discord id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import Database, open_database
from bot.jobs.run.prepare import install_salt, safety_identifier


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "bot.sqlite3") as database:
        yield database


async def test_the_salt_is_made_once_and_kept(db: Database) -> None:
    salt = await install_salt(db)
    assert len(salt) == 32 and await install_salt(db) == salt


async def test_two_installs_give_the_same_member_different_identifiers(tmp_path: Path) -> None:
    member = 123456789012345678
    found = []
    for name in ("a", "b"):
        async with open_database(tmp_path / f"{name}.sqlite3") as database:
            found.append(safety_identifier(member, await install_salt(database)))
    assert found[0] != found[1]
    assert all(str(member) not in identifier for identifier in found)


def test_the_identifier_is_stable_and_tells_members_apart() -> None:
    assert safety_identifier(1, "salt") == safety_identifier(1, "salt")
    assert safety_identifier(1, "salt") != safety_identifier(2, "salt")
