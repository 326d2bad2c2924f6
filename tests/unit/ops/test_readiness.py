"""Readiness: each cause of "not ready" is named; the provider is probed again, not too often."""

from __future__ import annotations

from pathlib import Path

from bot.db import open_database
from bot.ops.provider_watch import ProviderWatch
from bot.ops.readiness import Readiness, Verdict


class World:
    def __init__(self) -> None:
        self.connected = True
        self.dispatching = True
        self.watch = ProviderWatch(last_answer=1.0)
        self.probes = 0
        self.probe_answers = False

    async def probe(self) -> None:
        self.probes += 1
        if self.probe_answers:
            self.watch.last_answer = (self.watch.last_failure or 0) + 1


async def test_each_cause_is_named(tmp_path: Path) -> None:
    world = World()
    async with open_database(tmp_path / "bot.sqlite3") as db:
        readiness = Readiness(
            connected=lambda: world.connected,
            dispatching=lambda: world.dispatching,
            db=db,
            watch=world.watch,
            probe=world.probe,
        )
        assert await readiness.check() == Verdict(True)
        world.connected = False
        assert await readiness.check() == Verdict(False, "discord gateway not connected")
        world.connected, world.dispatching = True, False
        assert await readiness.check() == Verdict(False, "job dispatcher not running")
        world.dispatching = True
        world.watch.last_failure = 2.0  # the latest request got no answer
        assert await readiness.check() == Verdict(False, "provider not reachable")
        assert await readiness.check() == Verdict(False, "provider not reachable")
        assert world.probes == 1, "probed once, not at every check"
        await db.close()
        assert await readiness.check() == Verdict(False, "database not answering")


async def test_a_probe_that_gets_an_answer_makes_it_ready(tmp_path: Path) -> None:
    world = World()
    world.watch.last_failure, world.probe_answers = 2.0, True
    async with open_database(tmp_path / "bot.sqlite3") as db:
        readiness = Readiness(
            connected=lambda: True,
            dispatching=lambda: True,
            db=db,
            watch=world.watch,
            probe=world.probe,
        )
        assert await readiness.check() == Verdict(True)
        assert world.probes == 1
