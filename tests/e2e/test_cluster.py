"""Three bot processes on one PostgreSQL database, one Discord shard each (issue 20's must-shows):
one pace for the account, fair turns, failover after kill -9, results that outlive their maker.

One world for the module (tests/e2e/cluster.py): the fakes, the database and three processes
started once; a test that kills a process starts it again before it ends. The fake OpenAI holds
the account's IPM strictly, and the bot is told the same IPM.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import pytest_asyncio

from bot.cluster.shards import CLAIM_CHECK_S
from bot.db.locks import DISPATCHER_LEASE, shard_key
from tests.e2e.cluster import Cluster, Node, running_cluster
from tests.e2e.harness import png
from tests.e2e.pacing import most_in_any_window, spread_excess
from tests.fakes.discord_messages import RecordedMessage
from tests.pg import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SHARDS = 3
IPM = 15
# Requests go back to back up to a tenth of IPM, then one every 60/IPM s (README "Benchmarks",
# bot/jobs/order/pacing.py): at IPM 15 one image every 4 s. A run shorter than the provider's
# 60 s window cannot pass IPM with one pacer; three pacers (one per process) would pass its
# spread at once, which the tests measure with spread_excess.
BURST = 1
SPACING = 60 / IPM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    url = pg_server.new_database()
    root = tmp_path_factory.mktemp("cluster")
    try:
        async with running_cluster(url, root, shard_count=SHARDS, ipm=IPM) as world:
            yield world
    finally:
        pg_server.drop_database(url)


async def test_three_processes_pace_the_account_as_one_and_guilds_take_turns(
    cluster: Cluster,
) -> None:
    await cluster.ensure_running()
    ai = cluster.openai
    first_call, sent_before = len(ai.images.history), len(ai.image_requests)
    # A first job empties the pacer's bucket: the next request may go only SPACING s later, by
    # when the six below are all queued, each guild's two one after the other.
    await cluster.imagine(cluster.guild(0, 1), "warm-up lantern")
    await cluster.wait_requests(sent_before + 1)
    prompts = [f"pace shard {shard} job {k}" for shard in range(SHARDS) for k in range(2)]
    handles = []
    for prompt in prompts:
        shard = int(prompt.split()[2])
        handles.append(await cluster.imagine(cluster.guild(shard), prompt))
    for handle in handles:
        await cluster.wait_result(handle, timeout=90)

    sent = cluster.image_prompts()[sent_before + 1 :]
    assert sorted(sent) == sorted(prompts), "a job was sent twice, or not at all"
    turns = [int(p.split()[2]) for p in sent]
    assert len(set(turns[:SHARDS])) == SHARDS and turns[SHARDS:] == turns[:SHARDS], turns
    for prompt in prompts:
        assert len(cluster.results_for(prompt)) == 1, f"{prompt!r} was not delivered once"

    assert ai.images.ipm_refusals == 0, "a request met the provider's IPM limit (429)"
    throttled = await cluster.rows("SELECT id FROM api_calls WHERE http_status = 429")
    assert not throttled
    assert most_in_any_window(ai.images.history) <= IPM
    # One pacer for the account: never more than a full bucket plus its refill.
    assert spread_excess(ai.images.history[first_call:], IPM, BURST) <= 1
    cluster.discord.assert_no_violations()


def _told(cluster: Cluster, job_id: int) -> RecordedMessage | None:
    words = f"I lost track of job #{job_id}"
    return next((m for m in cluster.discord.messages if not m.deleted and words in m.content), None)


async def test_kill_9_of_the_dispatcher_hands_over_and_nothing_is_lost_or_sent_twice(
    cluster: Cluster,
) -> None:
    victim = await cluster.ensure_running()
    ai = cluster.openai
    other = next(s for s in range(SHARDS) if s != victim)
    sent_before = len(ai.image_requests)
    gates = [ai.hold_next() for _ in range(4)]  # whatever goes out before the kill stays in flight
    flying = "failover in flight"
    handles = {flying: await cluster.imagine(cluster.guild(other, 1), flying)}
    await cluster.wait_requests(sent_before + 1)
    await cluster.wait_jobs([flying], {"running"})
    backlog = [f"failover queued shard {shard}" for shard in range(SHARDS)]
    for shard, prompt in enumerate(backlog):
        handles[prompt] = await cluster.imagine(cluster.guild(shard, 1), prompt)
    await cluster.wait_jobs(backlog, {"queued", "running"})

    loop = asyncio.get_running_loop()
    await cluster.kill(victim)
    killed_at = loop.time()
    in_flight = set(cluster.image_prompts()[sent_before:])
    queued = [p for p in backlog if p not in in_flight]
    assert flying in in_flight and len(queued) >= 2, in_flight  # the pacer spaces them 4 s
    for gate in gates:
        gate.set()  # its answers go to a dead socket

    await cluster.wait_requests(sent_before + len(in_flight) + 1, timeout=30)
    took = loop.time() - killed_at
    assert took < 30, f"the next request went {took:.1f} s after the kill"
    assert await cluster.dispatcher() != victim

    await cluster.wait_jobs(sorted(in_flight), {"unknown"})
    for prompt in in_flight:
        job = await cluster.job(prompt)
        told = await cluster.discord.wait_until(partial(_told, cluster, job["id"]), 30, "told")
        record = handles[prompt].record
        theirs = told in (record.original, *record.followups)
        assert theirs or f"<@{job['user_id']}>" in told.content, told.content
    for prompt in queued:
        await cluster.wait_result(handles[prompt], timeout=60)
        assert len(cluster.results_for(prompt)) == 1
    prompts = cluster.image_prompts()
    for prompt in [flying, *backlog]:
        assert prompts.count(prompt) == 1, f"{prompt!r} went out {prompts.count(prompt)} times"
    assert ai.images.ipm_refusals == 0, "the new dispatcher forgot the minute's requests"

    # The killed process rejoins: back on its shard, it admits there, and another dispatches.
    await cluster.start(victim)
    await cluster.ensure_running()
    back = await cluster.imagine(cluster.guild(victim, 1), "failover rejoined")
    await cluster.wait_result(back, timeout=60)
    assert victim not in await cluster.dispatchers()
    cluster.discord.assert_no_violations()


async def test_a_result_is_sent_again_and_rerolled_after_its_maker_and_its_folder_are_gone(
    cluster: Cluster,
) -> None:
    maker = await cluster.ensure_running()
    ai = cluster.openai
    guild = cluster.guild(maker)
    member = cluster.member(guild)
    prompt = "outlive a hat on the cat"
    upload = cluster.discord.add_attachment("cat.png", png((256, 256), "orange"), "image/png")
    made = await cluster.discord.slash(
        "edit",
        {"prompt": prompt, "quality": "low", "image": upload},
        member=member,
        guild=guild,
        channel=cluster.channel(guild),
    )
    result = await cluster.wait_result(made, timeout=60)
    job = await cluster.job(prompt)

    await cluster.kill(maker)
    cluster.forget_data(maker)
    assert await cluster.dispatcher() != maker
    await cluster.start(maker)  # the shard on a new host: an empty folder
    await cluster.ensure_running()

    again = await cluster.discord.slash(
        "job", {"id": job["id"]}, member=member, guild=guild, channel=cluster.channel(guild)
    )
    shown = await cluster.discord.wait_until(
        lambda: _final(again.record.original), 30, f"/job {job['id']}"
    )
    assert shown.ephemeral and shown.attachments, shown.content
    assert [a.data for a in shown.attachments] == [a.data for a in result.attachments]

    reroll = await cluster.discord.click(result, member=member, label="Re-roll")
    rerolled = await cluster.wait_result(reroll, timeout=60)
    assert rerolled.id != result.id and prompt in rerolled.text
    edits = [r for r in ai.image_requests if r.params.get("prompt") == prompt]
    assert len(edits) == 2
    first, second = ([p.data for p in r.parts if p.name in ("image", "image[]")] for r in edits)
    assert first and second == first, "the re-roll did not send the image the maker kept"
    cluster.discord.assert_no_violations()


def _final(message: RecordedMessage | None) -> RecordedMessage | None:
    return None if message is None or message.loading else message


async def _held_call_and_backlog(
    cluster: Cluster, tag: str
) -> tuple[int, asyncio.Event, str, dict[str, Any]]:
    """The dispatcher with one call held in flight and a job queued on every shard."""
    victim = await cluster.ensure_running()
    ai = cluster.openai
    sent_before = len(ai.image_requests)
    gate = ai.hold_next()
    flying = f"{tag} in flight"
    other = next(s for s in range(SHARDS) if s != victim)
    handles = {flying: await cluster.imagine(cluster.guild(other, 1), flying)}
    await cluster.wait_requests(sent_before + 1)
    await cluster.wait_jobs([flying], {"running"})
    for shard in range(SHARDS):
        prompt = f"{tag} queued shard {shard}"
        handles[prompt] = await cluster.imagine(cluster.guild(shard, 1), prompt)
    return victim, gate, flying, handles


async def _delivered_once_each(cluster: Cluster, handles: dict[str, Any]) -> None:
    for prompt, handle in handles.items():
        await cluster.wait_result(handle, timeout=60)
        assert len(cluster.results_for(prompt)) == 1, f"{prompt!r} was not delivered once"
        assert (await cluster.job(prompt))["state"] == "succeeded", prompt
    prompts = cluster.image_prompts()
    for prompt in handles:
        assert prompts.count(prompt) == 1, f"{prompt!r} went out {prompts.count(prompt)} times"
    assert cluster.openai.images.ipm_refusals == 0
    cluster.discord.assert_no_violations()


async def test_a_dispatcher_that_loses_only_its_lease_connection_delivers_its_call_once(
    cluster: Cluster,
) -> None:
    victim, gate, flying, handles = await _held_call_and_backlog(cluster, "lease cut")
    lease = (
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
        " AND classid = 0 AND objid = %s AND objsubid = 1 AND granted"
    )
    await cluster.rows(lease, DISPATCHER_LEASE)  # a reaper, or an administrator, ends it
    # The old holder notices at its next look (up to LEASE_POLL after the new one took over).
    await cluster.poll(lambda: _other_dispatches(cluster, victim, strict=False), 10, "handover")
    await cluster.wait_jobs([p for p in handles if p != flying], {"succeeded"}, timeout=60)
    assert (await cluster.job(flying))["state"] == "running"  # its live process still waits
    gate.set()  # the answer reaches the process that sent the call, which delivers it
    await _delivered_once_each(cluster, handles)
    assert _told(cluster, (await cluster.job(flying))["id"]) is None


async def test_sigterm_of_the_dispatcher_hands_over_at_once_and_it_delivers_its_own_call(
    cluster: Cluster,
) -> None:
    victim, gate, flying, handles = await _held_call_and_backlog(cluster, "clean stop")
    node = cluster.nodes[victim]
    assert node.process is not None
    loop = asyncio.get_running_loop()
    node.process.send_signal(signal.SIGTERM)
    asked = loop.time()
    await cluster.poll(lambda: _other_dispatches(cluster, victim), 10, "a new dispatcher")
    took = loop.time() - asked
    assert took < 3, f"another process dispatched {took:.1f} s after SIGTERM"
    await cluster.wait_jobs([p for p in handles if p != flying], {"succeeded"}, timeout=60)
    assert node.running, "the stopping process left before its call was answered"
    gate.set()
    assert await asyncio.wait_for(node.process.wait(), 30) == 0
    await _delivered_once_each(cluster, handles)
    await cluster.ensure_running()  # back for the next test


async def _other_dispatches(cluster: Cluster, victim: int, *, strict: bool = True) -> bool:
    holders = await cluster.dispatchers()
    assert not strict or len(holders) <= 1, f"two processes dispatch at once: shards {holders}"
    return len(holders) == 1 and holders[0] != victim


async def test_a_process_whose_shard_claim_was_taken_over_stops_in_one_line(
    cluster: Cluster,
) -> None:
    """Its claim's connection ended (an administrator's pg_terminate_backend) and another
    process started on its shard: the first stops within seconds, naming SHARD_IDS, so two
    processes never answer one shard (the second trial charged one /imagine twice so)."""
    dispatcher = await cluster.ensure_running()
    shard = next(s for s in cluster.guilds if s != dispatcher)
    old = cluster.nodes[shard]
    claim = (
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
        " AND classid = 0 AND objid = %s AND objsubid = 1 AND granted"
    )
    await cluster.rows(claim, shard_key(shard))
    cluster.nodes[shard] = Node(shard, old.folder.parent / f"shard{shard}-again")
    await cluster.start(shard)  # claims the freed shard before the first process looks again
    assert old.process is not None
    code = await asyncio.wait_for(old.process.wait(), CLAIM_CHECK_S + 30)
    last = old.log.read_text().strip().splitlines()[-1]
    assert code == 2 and last.startswith("configuration error: SHARD_IDS"), last
    await cluster.ensure_running()  # the new process serves the shard
