"""Several `python -m bot` processes on one PostgreSQL database, one shard each, against one fake
Discord and one fake OpenAI: start them, kill -9 one, start it again, and read what they did."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.e2e.processes import bot_env
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_messages import RecordedMessage
from tests.fakes.discord_model import FakeChannel, FakeGuild, FakeMember
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

# Over 300 lines for a reason: the processes, the members' hands and the database reads of one
# world are the one object the cluster tests and benchmarks/cluster.py drive.
START_TIMEOUT = 90.0  # three interpreters importing discord.py at once on a shared 2-core machine
STOP_TIMEOUT = 30.0


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a guild's events to (developers/events/gateway#sharding)."""
    return (guild_id >> 22) % shard_count


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    """One bot process: its shard, its own folder (DATA_DIR, log) and its HTTP port."""

    shard: int
    folder: Path
    process: asyncio.subprocess.Process | None = None
    http_port: int = 0
    starts: int = 0

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "bot.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


@dataclass
class Cluster:
    """The fakes, the PostgreSQL database, one node per shard, and guilds on every shard."""

    discord: FakeDiscord
    openai: FakeOpenAI
    database_url: str
    root: Path
    shard_count: int
    ipm: int
    # What each process runs (`python -m bot`; a benchmark runs its own entry point) and with
    # which variables beyond the cluster's own.
    command: tuple[str, ...] = ("-m", "bot")
    extra_env: dict[str, str] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    guilds: dict[int, list[FakeGuild]] = field(default_factory=dict)  # shard -> its guilds
    _names: itertools.count[int] = field(default_factory=itertools.count)
    # One client for every /metrics look: a new httpx client builds an SSL context (loading the
    # CA certificates), which was most of the benchmark driver's CPU while the nodes started.
    http: httpx.AsyncClient = field(
        default_factory=lambda: httpx.AsyncClient(timeout=5.0, trust_env=False)
    )

    # ---- the world ---------------------------------------------------------------------------

    async def add_guilds(self, per_shard: int) -> None:
        """Guilds until every shard has `per_shard` (ids are snowflakes: the shard follows the
        millisecond a guild is made in, so some tries land on a shard that is full already)."""
        self.guilds = {shard: [] for shard in range(self.shard_count)}
        while any(len(g) < per_shard for g in self.guilds.values()):
            guild = self.discord.add_guild(f"Guild {next(self._names)}")
            placed = self.guilds[shard_of(guild.id, self.shard_count)]
            if len(placed) < per_shard:
                placed.append(guild)
            await asyncio.sleep(0.002)

    def guild(self, shard: int, index: int = 0) -> FakeGuild:
        return self.guilds[shard][index]

    def member(self, guild: FakeGuild) -> FakeMember:
        """A new member: each job its own, so no member's daily quota or queue limit binds."""
        return self.discord.add_member(guild, f"member{next(self._names)}")

    # ---- the processes -----------------------------------------------------------------------

    def env(self, node: Node) -> dict[str, str]:
        env = bot_env(self.discord, self.openai, node.folder, 0)
        del env["DEV_GUILD_ID"]  # commands go global, synced by shard 0's process alone
        env.update(
            DATABASE_URL=self.database_url,
            SHARD_COUNT=str(self.shard_count),
            SHARD_IDS=str(node.shard),
            OPENAI_IPM=str(self.ipm),
            HTTP_PORT=str(node.http_port),
            NO_PROXY="127.0.0.1",
        )
        env.update(self.extra_env)
        return env

    async def start(self, shard: int) -> Node:
        node = self.nodes[shard]
        assert not node.running, f"shard {shard}'s process already runs"
        node.folder.mkdir(parents=True, exist_ok=True)
        node.http_port = _free_port()
        node.starts += 1
        with node.log.open("ab") as sink:
            sink.write(f"---- start {node.starts}\n".encode())
            sink.flush()
            node.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.command, cwd=node.folder, env=self.env(node),
                stdout=sink, stderr=sink,
            )  # fmt: skip
        return node

    async def kill(self, shard: int) -> None:
        """kill -9: no clean stop, its sockets (Discord, PostgreSQL, OpenAI) cut by the kernel."""
        node = self.nodes[shard]
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        await node.process.wait()

    async def stop(self, shard: int) -> None:
        node = self.nodes[shard]
        if not node.running or node.process is None:
            return
        node.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(node.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            node.process.kill()
            await node.process.wait()

    def forget_data(self, shard: int) -> None:
        """The host's local folder gone (a new machine, a lost volume)."""
        node = self.nodes[shard]
        assert not node.running
        shutil.rmtree(node.data_dir, ignore_errors=True)
        assert not node.data_dir.exists()

    async def metrics(self, shard: int) -> dict[str, float]:
        """The node's unlabelled gauges and counters from /metrics; {} while it does not answer."""
        node = self.nodes[shard]
        if not node.running:
            return {}
        url = f"http://127.0.0.1:{node.http_port}/metrics"
        try:
            text = (await self.http.get(url)).text
        except httpx.HTTPError:
            return {}
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                values[name] = float(value)
        return values

    async def ensure_running(self) -> int:
        """Every node up and on the gateway, commands synced; returns the dispatcher's shard."""
        for node in self.nodes:
            if not node.running:
                await self.start(node.shard)
        await self.poll(self._all_connected, START_TIMEOUT, "every process on the gateway")
        await self.discord.wait_until(
            lambda: self.discord.synced_commands() or None, START_TIMEOUT, "the commands synced"
        )
        return await self.dispatcher()

    async def _all_connected(self) -> bool:
        for node in self.nodes:
            if (await self.metrics(node.shard)).get("imagebot_gateway_connected") != 1:
                return False
        return True

    async def dispatchers(self) -> list[int]:
        """The shards whose process says it holds the dispatcher's lease now."""
        found = []
        for node in self.nodes:
            if (await self.metrics(node.shard)).get("imagebot_dispatcher") == 1:
                found.append(node.shard)
        return found

    async def dispatcher(self, timeout: float = 30.0) -> int:
        """The one process dispatching (never two at once)."""
        holders: list[int] = []

        async def one() -> bool:
            holders[:] = await self.dispatchers()
            assert len(holders) <= 1, f"two processes dispatch at once: shards {holders}"
            return len(holders) == 1

        await self.poll(one, timeout, "a dispatcher")
        return holders[0]

    async def poll(self, check: Callable[[], Any], timeout: float, what: str) -> None:
        """Until `check()` (sync or async) is true; on timeout, the nodes' logs say why."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            if loop.time() > deadline:
                raise AssertionError(f"no {what} within {timeout:.0f} s\n{self.log_tails()}")
            await asyncio.sleep(0.1)

    def log_tails(self, lines: int = 15) -> str:
        parts = []
        for node in self.nodes:
            text = node.log.read_text(errors="replace") if node.log.exists() else ""
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- shard {node.shard} (running: {node.running})\n{tail}")
        return "\n".join(parts)

    # ---- members' hands ------------------------------------------------------------------------

    async def imagine(
        self, guild: FakeGuild, prompt: str, member: FakeMember | None = None, **options: Any
    ) -> InteractionHandle:
        return await self.discord.slash(
            "imagine",
            {"prompt": prompt, "quality": "low", **options},
            member=member or self.member(guild),
            guild=guild,
            channel=guild.text_channels[0],
        )

    async def wait_result(
        self, handle: InteractionHandle, timeout: float = 60.0
    ) -> RecordedMessage:
        """The result message: the original response, or a public followup."""

        def probe() -> RecordedMessage | None:
            record = handle.record
            for message in (record.original, *record.followups):
                if message is not None and message.attachments and message.embeds:
                    return message
            return None

        return await self.discord.wait_until(probe, timeout, "a result with images")

    def results_for(self, prompt: str) -> list[RecordedMessage]:
        """Every live, public message carrying images made for `prompt`."""
        return [
            m
            for m in self.discord.messages
            if not m.deleted and not m.ephemeral and m.attachments and prompt in m.text
        ]

    def channel(self, guild: FakeGuild) -> FakeChannel:
        return guild.text_channels[0]

    # ---- what the provider saw, and the database ------------------------------------------------

    def image_prompts(self) -> list[str]:
        """The prompt of every request to the Images API, in the order they arrived."""
        return [str(r.params.get("prompt", "")) for r in self.openai.image_requests]

    async def wait_requests(self, count: int, timeout: float = 30.0) -> None:
        await self.poll(
            lambda: len(self.openai.image_requests) >= count, timeout, f"{count} image requests"
        )

    async def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            cursor = await conn.execute(sql.encode(), params)
            return list(await cursor.fetchall())

    async def job(self, prompt: str) -> dict[str, Any]:
        [row] = await self.rows("SELECT * FROM jobs WHERE prompt = %s", prompt)
        return row

    async def wait_jobs(self, prompts: list[str], states: set[str], timeout: float = 30.0) -> None:
        async def there() -> bool:
            rows = await self.rows("SELECT state FROM jobs WHERE prompt = ANY(%s)", prompts)
            return len(rows) == len(prompts) and all(r["state"] in states for r in rows)

        await self.poll(there, timeout, f"jobs {prompts} in {sorted(states)}")


@contextlib.asynccontextmanager
async def running_cluster(
    database_url: str,
    root: Path,
    *,
    shard_count: int = 3,
    ipm: int,
    guilds_per_shard: int = 2,
    command: tuple[str, ...] = ("-m", "bot"),
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[Cluster]:
    """The fakes and the world; the processes start at `ensure_running` and are stopped here."""
    async with FakeDiscord() as discord, FakeOpenAI(api_key="sk-test", ipm=ipm) as openai:
        cluster = Cluster(
            discord, openai, database_url, root, shard_count, ipm, command, extra_env or {}
        )
        cluster.nodes = [Node(s, root / f"shard{s}") for s in range(shard_count)]
        await cluster.add_guilds(guilds_per_shard)
        try:
            yield cluster
        finally:
            openai.faults.closing.set()  # held answers go, so a clean stop need not wait for them
            await asyncio.gather(*(cluster.stop(n.shard) for n in cluster.nodes))
            await cluster.http.aclose()
