"""Several processes: admission with 3 bot processes on PostgreSQL beside 1 on SQLite, and failover.

Admission, for each rate (200 and 400 /imagine per second in all, by default): the same world
(guilds on every shard, 200 members) first served by one bot process on SQLite, then by three on
one PostgreSQL database, one Discord shard each (SHARD_COUNT=3), each process admitting its own
shard's interactions. Both run benchmarks/admission.py's bot (queue limits lifted, dispatch held:
the fake OpenAI answers nothing within the run) and its driver, so the figures are comparable
with `python -m benchmarks.admission`: acknowledgement latency p50/p99 (fake gateway -> interaction
callback) and CPU per admitted /imagine: the bot processes' together and, for PostgreSQL, the
server's (postmaster and backends).

Failover, `--failovers` times: three `python -m bot` processes with calls in flight (held by the
fake OpenAI) and jobs queued; kill -9 of the dispatcher (the process whose /metrics says
imagebot_dispatcher 1); the time until another process's first image request reaches the fake.

    .venv/bin/python -m benchmarks.cluster [--rates 200,400] [--seconds 10] [--repeat 1]
                                           [--failovers 3] [--profile DIR]

With --repeat N each rate is measured N times (fresh processes and database each time): near
the machine's capacity one run's p99 says little, N of them show the spread.

With --profile, each PostgreSQL bot process writes cProfile stats of its event loop's thread over
the measured run to DIR/cluster-<rate>-<pid>.pstats (the SQLite bot's go to DIR as well).

Linux only (reads /proc). Starts its own throwaway PostgreSQL server (tests/pg.py). About 4 minutes
with the defaults; run it on a quiet machine (it prints the load average before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.admission import (
    HELD_SECONDS,
    MANAGE_GUILD,
    WARM_UP,
    Figures,
    Member,
    collector_held,
    cpu_seconds,
    measure_rate,
    print_figures,
    send_at_rate,
    settle,
    summarise,
)
from tests.e2e.cluster import Cluster, running_cluster
from tests.pg import PostgresServer, running_server

PROCESSES = 3
MEMBERS = 200
GUILDS_PER_SHARD = 2
FAILOVER_LIMIT = 60.0  # seconds: a takeover slower than this is reported as a failure
TIER_5 = {"OPENAI_TIER": "5"}  # 250 images a minute: pacing never holds admission back


@dataclass(frozen=True, slots=True)
class Row:
    """One measured setup at one rate."""

    setup: str
    figures: Figures
    db_cpu_ms: float | None  # PostgreSQL's CPU per admitted job (None: SQLite, in the bot)


def sharded_world(cluster: Cluster) -> tuple[list[Member], list[Member]]:
    """MEMBERS members over the cluster's guilds (every shard), and one moderator per guild."""
    guilds = [g for shard in sorted(cluster.guilds) for g in cluster.guilds[shard]]
    members: list[Member] = []
    mods: list[Member] = []
    for g, guild in enumerate(guilds):
        role = cluster.discord.add_role(guild, "Moderators", MANAGE_GUILD)
        mod = cluster.discord.add_member(guild, f"mod{g}", roles=[role])
        mods.append(Member(mod, guild))
        for m in range(MEMBERS // len(guilds)):
            members.append(Member(cluster.discord.add_member(guild, f"member{g}-{m}"), guild))
    # Members take turns across guilds (and so shards), as traffic from communities interleaves.
    members.sort(key=lambda x: (x.member.id % (MEMBERS // len(guilds)), x.guild.id))
    return members, mods


def server_cpu_seconds(postmaster: int) -> float:
    """PostgreSQL's CPU: the postmaster, its live children (backends, workers), and the
    children it has reaped (cutime, cstime)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        ticks = int(fields[11]) + int(fields[12])
        if int(entry.name) == postmaster:
            ticks += int(fields[13]) + int(fields[14])
            total += ticks
        elif int(fields[1]) == postmaster:
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


async def lift_quotas(cluster: Cluster, mods: list[Member]) -> None:
    no_limit = {
        "guild_daily_usd": 0,
        "guild_monthly_usd": 0,
        "guild_daily_images": 0,
        "user_daily_images": 0,
        "user_daily_usd": 0,
    }
    for mod in mods:
        handle = await cluster.discord.slash(
            "quota", no_limit, subcommand="set", member=mod.member, guild=mod.guild
        )
        await handle.wait_response(10.0)


async def measure_cluster(
    cluster: Cluster, world: tuple[list[Member], list[Member]], rate: int, seconds: float,
    postmaster: int, profiled: bool,
) -> Row:  # fmt: skip
    """The cluster's processes (fresh), warmed up, then `rate` /imagine per second in all."""
    members, mods = world
    discord = cluster.discord
    try:
        await cluster.ensure_running()
        await lift_quotas(cluster, mods)
        warm, _ = await send_at_rate(discord, members, min(rate, 50), WARM_UP, f"cwarm{rate}")
        await settle(discord, warm)
        pids = [n.process.pid for n in cluster.nodes if n.process is not None]
        loop = asyncio.get_running_loop()
        cpu0, loop0 = _cpu(pids), _cpu(pids, main_thread=True)
        db0, driver0, wall0 = server_cpu_seconds(postmaster), time.process_time(), loop.time()
        requests0 = len(discord.requests)
        _signal(pids, signal.SIGUSR2, profiled)  # benchmarks/admission.py: starts the profiler
        with collector_held():
            handles, sent_for = await send_at_rate(
                discord, members, rate, int(rate * seconds), f"c{rate}"
            )
            await settle(discord, handles)
        _signal(pids, signal.SIGUSR1, profiled)  # writes the stats
        span = loop.time() - wall0
        bot_cpu, loop_cpu = _cpu(pids) - cpu0, _cpu(pids, main_thread=True) - loop0
        db_cpu, driver_cpu = server_cpu_seconds(postmaster) - db0, time.process_time() - driver0
        edits = sum(
            1
            for r in discord.requests[requests0:]
            if r.method == "PATCH" and r.path.endswith("/messages/@original")
        )
        figures = summarise(
            "imagine", rate, handles, sent_for, bot_cpu, span, driver_cpu, edits, loop_cpu
        )
        db_ms = db_cpu / max(figures.admitted, 1) * 1e3
        return Row(f"{PROCESSES} processes on PostgreSQL", figures, db_ms)
    finally:
        for node in cluster.nodes:  # in-flight calls never end; a clean stop would wait for them
            if node.running:
                await cluster.kill(node.shard)
        await discord.wait_until(lambda: not discord.gateway.ready, 10.0, "the bots gone")


def _signal(pids: list[int], signum: int, profiled: bool) -> None:
    if profiled:
        for pid in pids:
            os.kill(pid, signum)
        if signum == signal.SIGUSR1:
            time.sleep(1.0)  # the stats written before the processes are killed


def _cpu(pids: list[int], *, main_thread: bool = False) -> float:
    return sum(cpu_seconds(pid, pid if main_thread else None) for pid in pids)


async def admission(
    server: PostgresServer, rates: list[int], seconds: float, work: Path, profile: Path | None
) -> list[Row]:
    rows: list[Row] = []
    for run, rate in enumerate(rates):
        url = server.new_database()
        folder = work / f"cluster-{rate}-{run}"
        folder.mkdir()
        env = dict(TIER_5)
        if profile is not None:
            env["BENCH_PROFILE"] = str(profile / f"cluster-{rate}-{{pid}}.pstats")
        async with running_cluster(
            url, folder, shard_count=PROCESSES, ipm=250, guilds_per_shard=GUILDS_PER_SHARD,
            command=("-m", "benchmarks.admission", "--bot"), extra_env=env,
        ) as cluster:  # fmt: skip
            cluster.openai.latency = HELD_SECONDS
            world = sharded_world(cluster)
            log = folder / "sqlite-bot.log"
            single = await measure_rate(
                cluster.discord, cluster.openai, world, rate, seconds, folder, profile, log
            )
            rows.append(Row("1 process on SQLite", single, None))
            print(f"1 process on SQLite, {rate}/s: p99 {single.p99_ms:.1f} ms", flush=True)
            several = await measure_cluster(
                cluster, world, rate, seconds, server.postmaster_pid, profile is not None
            )
            rows.append(several)
            p99 = several.figures.p99_ms
            print(f"{PROCESSES} processes on PostgreSQL, {rate}/s: p99 {p99:.1f} ms", flush=True)
        server.drop_database(url)
    return rows


async def one_failover(cluster: Cluster, round_: int) -> float:
    """Calls in flight and jobs queued, kill -9 of the dispatcher: seconds until another
    process's first image request."""
    ai = cluster.openai
    victim = await cluster.ensure_running()
    ai.latency = HELD_SECONDS  # the dispatcher's calls stay in flight
    before = len(ai.image_requests)
    others = [s for s in cluster.guilds if s != victim]
    for i in range(8):
        guild = cluster.guild(others[i % len(others)], i % GUILDS_PER_SHARD)
        await cluster.imagine(guild, f"failover {round_} job {i}")
    await cluster.wait_requests(before + 4)  # its four calls in flight; the rest queued
    await asyncio.sleep(1.0)  # the queued ones reach every process's mirror
    sent = len(ai.image_requests)
    loop = asyncio.get_running_loop()
    killed = loop.time()
    await cluster.kill(victim)
    ai.latency = 0.0
    while len(ai.image_requests) == sent:
        if loop.time() - killed > FAILOVER_LIMIT:
            raise RuntimeError(f"no takeover within {FAILOVER_LIMIT:.0f} s\n{cluster.log_tails()}")
        await asyncio.sleep(0.01)
    took = loop.time() - killed
    await cluster.start(victim)  # it rejoins, as a follower
    return took


async def failovers(server: PostgresServer, count: int, work: Path) -> list[float]:
    url = server.new_database()
    times: list[float] = []
    async with running_cluster(
        url, work / "failover", shard_count=PROCESSES, ipm=250, extra_env=TIER_5
    ) as cluster:
        for round_ in range(count):
            times.append(await one_failover(cluster, round_))
            print(f"failover {round_ + 1}: {times[-1]:.2f} s", flush=True)
    server.drop_database(url)
    return times


def print_rows(rows: list[Row], times: list[float]) -> None:
    for setup in dict.fromkeys(r.setup for r in rows):
        print(f"\n{setup}:")
        print_figures([r.figures for r in rows if r.setup == setup])
        for r in rows:
            if r.setup == setup and r.db_cpu_ms is not None:
                print(f"  at {r.figures.rate}/s PostgreSQL's CPU per admitted job: "
                      f"{r.db_cpu_ms:.2f} ms")  # fmt: skip
    if times:
        print(
            f"\nfailover (kill -9 of the dispatcher -> another's first request), {len(times)} "
            f"times: median {statistics.median(times):.2f} s, max {max(times):.2f} s"
        )


def load_line(when: str) -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"load average {when}: {load} ({os.cpu_count()} cores)"


async def measure(
    server: PostgresServer, rates: list[int], seconds: float, count: int, work: Path,
    profile: Path | None,
) -> tuple[list[Row], list[float]]:  # fmt: skip
    rows = await admission(server, rates, seconds, work, profile) if rates else []
    times = await failovers(server, count, work) if count else []
    return rows, times


def main(rates: list[int], seconds: float, count: int, profile: Path | None) -> None:
    print(load_line("before"), flush=True)
    # The server starts outside the event loop: it migrates its template with asyncio.run.
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp, running_server() as server:
        rows, times = asyncio.run(measure(server, rates, seconds, count, Path(tmp), profile))
    print(load_line("after"))
    print_rows(rows, times)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rates", default="200,400", help="/imagine per second in all")
    parser.add_argument("--seconds", type=float, default=10.0, help="each rate's duration")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each rate")
    parser.add_argument("--failovers", type=int, default=3, help="kill -9s of the dispatcher")
    parser.add_argument("--profile", type=Path, help="write the bots' cProfile stats here")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    rates = [int(r) for r in args.rates.split(",") if r for _ in range(args.repeat)]
    main(rates, args.seconds, args.failovers, args.profile)
