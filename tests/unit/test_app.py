"""Start-up stays light: matplotlib is imported when a /usage chart is drawn, not before."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import Any, cast

import psycopg
import pytest
from pydantic import SecretStr

from bot.app import EXTENSIONS, _claim_shards
from bot.clock import ManualClock
from bot.db import open_database
from bot.errors import ConfigError
from tests.pg import PostgresServer


def test_the_bot_and_its_cogs_load_without_matplotlib() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, sys
        import bot.app, bot.__main__
        for name in {EXTENSIONS!r}:
            importlib.import_module(name)
        print(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


async def test_a_connection_refused_at_start_up_for_the_liveness_key_is_one_line(
    pg_server: PostgresServer,
) -> None:
    # With the pool's connections opened first, the server's last free slots can be gone by the
    # time the process takes its liveness key: that was a traceback and exit 1.
    url = pg_server.new_database()

    class Refused:
        async def join(self) -> None:  # the server's answer when its slots are used up
            raise psycopg.OperationalError("FATAL:  sorry, too many clients already")

    async with open_database(url) as db, contextlib.AsyncExitStack() as stack:
        services = SimpleNamespace(db=db, clock=ManualClock(), leadership=Refused())
        settings = SimpleNamespace(
            shards=None, shard_count=None, database_url=SecretStr(url.replace("@", ":pw@", 1))
        )
        with pytest.raises(ConfigError) as refused:
            await _claim_shards(stack, cast(Any, services), cast(Any, settings), print)
    assert refused.value.variable == "DATABASE_URL"
    assert "too many clients" in refused.value.reason
    assert ":pw@" not in refused.value.reason
