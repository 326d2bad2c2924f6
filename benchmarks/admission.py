"""Admission at scale: /imagine from 200 members in 4 guilds at 50, 200 and 400 per second.

The real bot (bot.app's composition root, discord.py, SQLite) runs in a child process against the
loopback fakes of Discord and OpenAI (tests/fakes/), which run in this process. For each rate a
fresh bot with a fresh database starts, moderators lift the guilds' quotas with /quota set, and
members send /imagine at a steady rate for a fixed time. Printed per rate:

- how many were admitted and answered with their status at once ("admitted"), answered
  otherwise ("other": deferred because admission took over 1.5 s, or refused), or not at all;
- acknowledgement latency p50, p99 and max: from the fake gateway taking the INTERACTION_CREATE
  to the fake REST server receiving the interaction callback;
- status edits per admitted job;
- the bot's CPU per admitted /imagine: the child's user + system CPU time (every thread: asyncio,
  aiosqlite's, discord.py's heartbeat) from the first /imagine until the bot goes quiet (its last
  status edit), divided by the admitted jobs;
- this process's CPU share, to show the fakes were not the bottleneck.

Dispatch is held on purpose: the fake OpenAI answers no call within the run, so the bot has its
4 calls in flight and every other job waits, the queue grows to rate x seconds jobs, and the
figures are those of admission against a deep queue (position updates and status edits
included), not of image handling. The queue limits per member and per guild (3 and 50, not
settings) are lifted through the composition root's `queue` parameter so that every /imagine is
admitted.

    .venv/bin/python -m benchmarks.admission [--rates 50,200,400] [--seconds 10] [--floor]
                                             [--profile DIR] [--log FILE]

Linux only (reads /proc/<pid>/stat). About 60 s with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import gc
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import discord
from discord import app_commands

from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_model import FakeGuild, FakeMember
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI

GUILDS = 4
MEMBERS = 200
MANAGE_GUILD = 1 << 5
HELD_SECONDS = 3600.0  # the fake OpenAI's latency: longer than any run
# /imagine sent (and not counted) before each measured run: enough that every process's pooled
# PostgreSQL connections have run (and psycopg has prepared, after 5 runs each) admission's
# statements, as in a bot that has been up a while; 20 left the first seconds of a run cold.
WARM_UP = 200
QUIET_SECONDS = 1.0  # the bot is done when it has sent Discord nothing for this long
SETTLE_LIMIT = 20.0  # most seconds to wait for acknowledgements and for the bot to go quiet
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent
FLOOR = "bench-ping"  # a command only the benchmark's bot has: discord.py's own cost


@dataclass(frozen=True, slots=True)
class Member:
    member: FakeMember
    guild: FakeGuild


@dataclass(frozen=True, slots=True)
class Figures:
    command: str
    rate: int
    sent: int
    achieved: float
    admitted: int
    refused: int  # answered otherwise: a private defer (admission took over 1.5 s) or refusal
    unanswered: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    edits: float  # status edits (PATCH of an original response) per admitted
    bot_cpu_ms: float  # per admitted /imagine
    loop_cpu_ms: float  # of which the event loop's thread (the rest: SQLite's thread, others)
    bot_cpu_share: float  # of one core, over the measured span
    driver_cpu_share: float


# ---- the bot, in the child process ---------------------------------------------------------------


async def serve_bot(profile: Path | None) -> None:
    """Run the bot like `python -m bot` does, with the queue limits lifted (settings from env)."""
    from bot.app import ImageBot, build_services, point_discord_at
    from bot.jobs.wiring import QueueSettings
    from bot.settings import load_settings

    settings = load_settings(env_file=None)
    point_discord_at(settings)
    # CPU time of the event loop's thread, not wall time: other processes' load stays out.
    profiler = cProfile.Profile(time.thread_time) if profile else None
    if profiler is not None and profile is not None:  # SIGUSR2 starts it, SIGUSR1 writes it
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR2, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR1, _write_profile, profiler, profile)
    unbounded = replace(
        QueueSettings.from_settings(settings), member_queue_limit=0, guild_queue_limit=0
    )
    async with (
        build_services(settings, queue=unbounded) as services,
        ImageBot(services, guild_ready_timeout=0.1) as bot,
    ):
        bot.tree.add_command(app_commands.Command(name=FLOOR, description="pong", callback=pong))
        await bot.start(settings.discord_token.get_secret_value())


def _write_profile(profiler: cProfile.Profile, path: Path) -> None:
    profiler.disable()
    profiler.dump_stats(path)


async def pong(interaction: discord.Interaction) -> None:
    """The floor: what discord.py alone spends on a command answered with a message."""
    await interaction.response.send_message("pong")


def bot_main() -> None:
    import logging

    from bot.app import loop_factory

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)-8s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # as `python -m bot` does
    # "{pid}" in the path: one file per process when several bots share the variable.
    profile = os.environ.get("BENCH_PROFILE", "").replace("{pid}", str(os.getpid()))
    with asyncio.Runner(loop_factory=loop_factory()) as runner:  # as `python -m bot` does
        runner.run(serve_bot(Path(profile) if profile else None))


# ---- the driver ----------------------------------------------------------------------------------


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU of a process (all its threads), or of one of its threads.

    From /proc, at clock-tick resolution (10 ms: a few µs per interaction over a run).
    """
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def build_world(discord: FakeDiscord) -> tuple[list[Member], list[Member]]:
    """GUILDS guilds with MEMBERS members in all, and one moderator per guild."""
    members: list[Member] = []
    mods: list[Member] = []
    for g in range(GUILDS):
        guild = discord.add_guild(f"Guild {g}")
        role = discord.add_role(guild, "Moderators", MANAGE_GUILD)
        mods.append(Member(discord.add_member(guild, f"mod{g}", roles=[role]), guild))
        for m in range(MEMBERS // GUILDS):
            members.append(Member(discord.add_member(guild, f"member{g}-{m}"), guild))
    # Members take turns across guilds, as traffic from several communities interleaves.
    members.sort(key=lambda x: (x.member.id % (MEMBERS // GUILDS), x.guild.id))
    return members, mods


@contextlib.contextmanager
def child_env(discord: FakeDiscord, openai: FakeOpenAI, data: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DEV_GUILD_ID", "MODEL_CATALOG")}
    env.update(
        DISCORD_TOKEN=discord.token,
        OPENAI_API_KEY=openai.api_key,
        OPENAI_BASE_URL=openai.base_url,
        DISCORD_API_BASE=discord.api_base,
        DISCORD_GATEWAY_URL=discord.gateway_url,
        DATABASE_PATH=str(data / "bot.sqlite3"),
        DATA_DIR=str(data),
        OPENAI_TIER="5",
        NO_PROXY="127.0.0.1",
        PYTHONPATH=str(ROOT),
    )
    yield env


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.admission", "--bot", env=env, cwd=ROOT,
            stdout=sink, stderr=sink,
        )  # fmt: skip


async def wait_ready(discord: FakeDiscord, mods: list[Member]) -> None:
    """Until the bot is on the gateway with its commands synced; then lift every quota."""
    await discord.wait_connected(60.0)
    await discord.wait_until(lambda: discord.synced_commands(), 60.0, "the commands synced")
    await asyncio.sleep(0.5)  # guild_ready_timeout
    no_limit = {
        "guild_daily_usd": 0,
        "guild_monthly_usd": 0,
        "guild_daily_images": 0,
        "user_daily_images": 0,
        "user_daily_usd": 0,
    }
    for mod in mods:
        handle = await discord.slash(
            "quota", no_limit, subcommand="set", member=mod.member, guild=mod.guild
        )
        await handle.wait_response(10.0)


async def send_at_rate(
    discord: FakeDiscord, members: list[Member], rate: int, count: int, tag: str,
    command: str = "imagine",
) -> tuple[list[InteractionHandle], float]:  # fmt: skip
    """/imagine `count` times, the i-th at start + i/rate; returns the handles and the seconds."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sending: list[asyncio.Task[InteractionHandle]] = []
    for i in range(count):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        who = members[i % len(members)]
        options = (
            {"prompt": f"a lighthouse at dusk, study {tag}-{i}"} if command == "imagine" else {}
        )
        sending.append(
            asyncio.ensure_future(
                discord.slash(command, options, member=who.member, guild=who.guild)
            )
        )
    handles = await asyncio.gather(*sending)
    return handles, loop.time() - start


async def settle(discord: FakeDiscord, handles: list[InteractionHandle]) -> None:
    """Until every interaction is answered and the bot has gone quiet (or SETTLE_LIMIT passes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_LIMIT
    waiting = iter(handles)
    current = next(waiting, None)

    def answered() -> bool:
        nonlocal current
        while current is not None and current.callbacks:
            current = next(waiting, None)
        return current is None

    with contextlib.suppress(AssertionError):  # unanswered ones are counted, not fatal
        await discord.wait_until(answered, SETTLE_LIMIT, "every interaction answered")
    seen, quiet_since = len(discord.requests), loop.time()
    while loop.time() < deadline and loop.time() - quiet_since < QUIET_SECONDS:
        await asyncio.sleep(0.1)
        if len(discord.requests) != seen:
            seen, quiet_since = len(discord.requests), loop.time()


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def summarise(
    command: str, rate: int, handles: list[InteractionHandle], seconds: float, bot_cpu: float,
    span: float, driver_cpu: float, edits: int, loop_cpu: float,
) -> Figures:  # fmt: skip
    latencies = sorted(h.ack_latency for h in handles if h.ack_latency is not None)
    admitted = sum(
        1
        for h in handles
        if h.response is not None
        and h.response.type == 4
        and not int(h.response.data.get("flags") or 0) & 64
    )
    answered = sum(1 for h in handles if h.response is not None)
    return Figures(
        command=command,
        rate=rate,
        sent=len(handles),
        achieved=len(handles) / seconds,
        admitted=admitted,
        refused=answered - admitted,
        unanswered=len(handles) - answered,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] if latencies else float("nan")) * 1000,
        edits=edits / max(admitted, 1),
        bot_cpu_ms=bot_cpu / max(admitted, 1) * 1000,
        loop_cpu_ms=loop_cpu / max(admitted, 1) * 1000,
        bot_cpu_share=bot_cpu / span,
        driver_cpu_share=driver_cpu / span,
    )


async def measure_rate(
    discord: FakeDiscord, openai: FakeOpenAI, world: tuple[list[Member], list[Member]],
    rate: int, seconds: float, work: Path, profile: Path | None, log: Path,
    command: str = "imagine",
) -> Figures:  # fmt: skip
    """One fresh bot, warmed up, then `rate` commands per second for `seconds`."""
    members, mods = world
    data = work / f"{command}-{rate}"
    data.mkdir()
    with child_env(discord, openai, data) as env:
        if profile is not None:
            env["BENCH_PROFILE"] = str(profile / f"{command}-{rate}.pstats")
        child = await start_bot(env, log)
        try:
            await wait_ready(discord, mods)
            warm, _ = await send_at_rate(discord, members, min(rate, 50), WARM_UP, f"warm{rate}")
            await settle(discord, warm)
            loop = asyncio.get_running_loop()
            if profile is not None:
                child.send_signal(signal.SIGUSR2)
            cpu0, driver0, wall0 = cpu_seconds(child.pid), time.process_time(), loop.time()
            loop0 = cpu_seconds(child.pid, child.pid)
            requests0 = len(discord.requests)
            count = int(rate * seconds)
            with collector_held():
                handles, sent_for = await send_at_rate(
                    discord, members, rate, count, str(rate), command
                )
                await settle(discord, handles)
            span = loop.time() - wall0
            bot_cpu = cpu_seconds(child.pid) - cpu0
            loop_cpu = cpu_seconds(child.pid, child.pid) - loop0
            driver_cpu = time.process_time() - driver0
            if profile is not None:
                child.send_signal(signal.SIGUSR1)
                await asyncio.sleep(1.0)
                kinds = collections.Counter(
                    f"{r.method} {r.path.split('/')[3]}/…/{r.path.rsplit('/', 1)[-1]}"
                    for r in discord.requests[requests0:]
                )
                print(f"requests to Discord: {dict(kinds)}", flush=True)
            edits = sum(
                1
                for r in discord.requests[requests0:]
                if r.method == "PATCH" and r.path.endswith("/messages/@original")
            )
            return summarise(
                command, rate, handles, sent_for, bot_cpu, span, driver_cpu, edits, loop_cpu
            )
        finally:
            child.kill()  # in-flight calls never end; a clean stop would wait for them
            await child.wait()
            await discord.wait_until(lambda: not discord.gateway.ready, 10.0, "the bot gone")


@contextlib.contextmanager
def collector_held() -> Iterator[None]:
    """No garbage collection in the fakes while measuring: a full collection of their records
    stalled them for up to 0.3 s, which the acknowledgement latencies wrongly charged the bot."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def print_figures(rows: list[Figures]) -> None:
    print(
        f"{'command':<11} {'rate/s':>6} {'sent':>5} {'sent/s':>6} {'admitted':>8} {'other':>7} "
        f"{'no ack':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'edits':>5} "
        f"{'bot CPU ms/admitted':>19} {'of it loop':>10} {'bot CPU':>7} {'fakes CPU':>9}"
    )
    for f in rows:
        print(
            f"/{f.command:<10} {f.rate:>6} {f.sent:>5} {f.achieved:>6.0f} {f.admitted:>8} "
            f"{f.refused:>7} "
            f"{f.unanswered:>6} {f.p50_ms:>7.1f} {f.p99_ms:>7.1f} {f.max_ms:>7.1f} {f.edits:>5.2f} "
            f"{f.bot_cpu_ms:>19.2f} {f.loop_cpu_ms:>10.2f} {f.bot_cpu_share:>7.0%} "
            f"{f.driver_cpu_share:>9.0%}"
        )
    floors = {f.rate: f.bot_cpu_ms for f in rows if f.command == FLOOR}
    for f in rows:
        if f.command == "imagine" and f.rate in floors:
            above = f.bot_cpu_ms - floors[f.rate]
            print(
                f"/imagine at {f.rate}/s: {above:.2f} ms of bot CPU per admitted job above "
                f"discord.py's own cost of answering an interaction ({floors[f.rate]:.2f} ms)"
            )


async def main(
    rates: list[int], seconds: float, profile: Path | None, log: Path | None, floor: bool
) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load} ({os.cpu_count()} cores)", flush=True)
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="admission-") as tmp:
        work = Path(tmp)
        async with FakeDiscord() as discord, FakeOpenAI(api_key="sk-bench") as openai:
            openai.latency = HELD_SECONDS
            world = build_world(discord)
            commands = ["imagine", FLOOR] if floor else ["imagine"]
            for command in commands:
                for rate in rates:
                    figures = await measure_rate(
                        discord, openai, world, rate, seconds, work, profile,
                        log or work / "bot.log", command,
                    )  # fmt: skip
                    rows.append(figures)
                    print(f"/{command} {rate}/s: p99 {figures.p99_ms:.1f} ms", flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average after: {load}")
    print_figures(rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rates", default="50,200,400", help="interactions per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="each rate's duration")
    parser.add_argument("--profile", type=Path, help="write the bot's cProfile stats here")
    parser.add_argument("--log", type=Path, help="append the bot's log to this file")
    parser.add_argument(
        "--floor", action="store_true",
        help=f"also send /{FLOOR}, answered at once: discord.py's own cost per interaction",
    )  # fmt: skip
    parser.add_argument("--bot", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.bot:
        bot_main()
    else:
        rates = [int(r) for r in args.rates.split(",")]
        asyncio.run(main(rates, args.seconds, args.profile, args.log, args.floor))
