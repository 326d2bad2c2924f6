"""The fake Discord gateway: HELLO, IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME, dispatch;
shards: each session gets its shard's guilds and events
(https://discord.com/developers/docs/events/gateway#sharding)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_state import FakeState, IdentifyRecord

log = logging.getLogger(__name__)
HEARTBEAT_INTERVAL_MS = 41_250
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 8, 9, 10, 11
CLOSE_AUTH_FAILED, CLOSE_INVALID_SHARD = 4004, 4010
# One IDENTIFY per rate-limit bucket every 5 seconds
# (https://discord.com/developers/docs/events/gateway#sharding-max-concurrency).
IDENTIFY_SPACING_S = 5.0
# Where an event names its guild: `guild_id`, except the guild events, whose object is the guild.
# Events without a guild go to shard 0 only.
GUILD_ID_FIELD = {"GUILD_CREATE": "id", "GUILD_UPDATE": "id", "GUILD_DELETE": "id"}
Outgoing = tuple[str, dict[str, Any], int, "asyncio.Future[int] | None"]


@dataclass(slots=True)
class Session:
    """One gateway session; a RESUME on a new connection continues it."""

    id: str
    intents: int
    shard: tuple[int, int] = (0, 1)  # [shard_id, num_shards] from IDENTIFY
    seq: int = 0

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord sends this session an event of that guild (None: no guild)."""
        shard_id, num_shards = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % num_shards == shard_id


@dataclass(slots=True)
class Connection:
    ws: web.WebSocketResponse
    url: str
    session: Session | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


class GatewayHub:
    """Accepts bot connections (plain text JSON frames, no compression) and dispatches events."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.connections: list[Connection] = []
        self.sessions: dict[str, Session] = {}
        self.identify_count = 0
        # Pairs of IDENTIFYs of one bucket less than 5 s apart: Discord's rule broken. Recorded,
        # not refused, so that a quick restart of one bot behaves as before.
        self.identify_breaches: list[tuple[IdentifyRecord, IdentifyRecord]] = []
        self.resume_count = 0
        self.received: list[dict[str, Any]] = []
        # While set, new connections are answered with this HTTP status instead of an upgrade
        # (an outage or a proxy in front of the gateway); see FakeDiscord.refuse_gateway.
        self.refuse_status: int | None = None
        # While set, IDENTIFY must carry this token instead (a token reset after the REST login:
        # the gateway then closes with 4004, https://discord.com/developers/docs/topics/opcodes-and-status-codes).
        self.identify_token: str | None = None
        # While set, HELLO waits for it (a slow network): bots that connect meanwhile all get
        # theirs at the same moment once it is set (see FakeDiscord.hold_hello).
        self.hello_gate: asyncio.Event | None = None
        # One ordered outbox, so events queued by sync helpers never overtake or trail others.
        self._outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._pump_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            event, data, intent, done = await self._outbox.get()
            try:
                sent = await self._broadcast(event, data, intent)
            except Exception as error:  # a dying socket must not stop later events
                if done is not None and not done.done():
                    done.set_exception(error)
            else:
                if done is not None and not done.done():
                    done.set_result(sent)

    @property
    def ready(self) -> list[Connection]:
        return [c for c in self.connections if c.session is not None and not c.ws.closed]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_status is not None:
            return web.Response(status=self.refuse_status, text="gateway unavailable")
        ws = web.WebSocketResponse(max_msg_size=0, autoclose=True)
        await ws.prepare(request)
        conn = Connection(ws, f"ws://{request.host}/gateway")
        self.connections.append(conn)
        self.state.changes.notify()
        try:
            if self.hello_gate is not None:
                await self.hello_gate.wait()
            await self._send(
                conn, {"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
        finally:
            self.connections.remove(conn)
            self.state.changes.notify()
        return ws

    async def _on_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        self.received.append(frame)
        op = frame.get("op")
        if op == OP_HEARTBEAT:
            await self._send(conn, {"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            await self._identify(conn, frame["d"])
        elif op == OP_RESUME:
            await self._resume(conn, frame["d"])
        elif op == OP_REQUEST_MEMBERS:
            await self._chunk(conn, frame["d"])

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        if data.get("token") != (self.identify_token or self.state.token):
            await conn.ws.close(code=CLOSE_AUTH_FAILED, message=b"Authentication failed.")
            return
        shard = data.get("shard") or [0, 1]
        if not (len(shard) == 2 and 0 <= shard[0] < shard[1]):
            await conn.ws.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return
        self.identify_count += 1
        ids = (int(shard[0]), int(shard[1]))
        self._record_identify(ids)
        session = Session(secrets.token_hex(16), int(data.get("intents", 0)), ids)
        self.sessions[session.id] = session
        conn.session = session
        world = self.state.world
        guilds = [g for g in list(world.guilds.values()) if session.receives(g.id)]
        ready = {
            "v": 10,
            "user": {**world.bot_user.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "resume_gateway_url": conn.url,
            "application": {"id": str(world.application_id), "flags": 0},
            "shard": list(session.shard),
            "private_channels": [],
            "relationships": [],
        }
        await self._dispatch_to(conn, "READY", ready)
        for guild in guilds:
            await self._dispatch_to(conn, "GUILD_CREATE", guild.create_payload())
        self.state.changes.notify()

    def _record_identify(self, shard: tuple[int, int]) -> None:
        """Keep the IDENTIFY's time and bucket; note it if its bucket had one under 5 s ago."""
        record = IdentifyRecord(time.monotonic(), shard, shard[0] % self.state.max_concurrency)
        for earlier in self.state.identifies:
            if earlier.bucket == record.bucket and record.at - earlier.at < IDENTIFY_SPACING_S:
                self.identify_breaches.append((earlier, record))
        self.state.identifies.append(record)

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.state.token:
            await self._send(conn, {"op": OP_INVALID_SESSION, "d": False})
            return
        self.resume_count += 1
        conn.session = session
        await self._dispatch_to(conn, "RESUMED", {})  # discord.py writes into d: never null
        self.state.changes.notify()

    async def _chunk(self, conn: Connection, data: dict[str, Any]) -> None:
        guild = self.state.world.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        chunk = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in guild.members.values()],
            "chunk_index": 0,
            "chunk_count": 1,
            "nonce": data.get("nonce"),
        }
        await self._dispatch_to(conn, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send(self, conn: Connection, frame: dict[str, Any]) -> None:
        if not conn.ws.closed:
            await conn.ws.send_str(json.dumps(frame))

    async def _dispatch_to(self, conn: Connection, event: str, data: dict[str, Any]) -> None:
        assert conn.session is not None
        conn.session.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": conn.session.seq, "d": data}
        conn.events.append(frame)
        await self._send(conn, frame)

    def post(self, event: str, data: dict[str, Any], intent: int = 0) -> None:
        """Queue an event for connected bots (none connected: the next READY carries the world)."""
        if self.ready:
            self._outbox.put_nowait((event, data, intent, None))

    async def dispatch(self, event: str, data: dict[str, Any], intent: int = 0) -> int:
        """Send in order after everything queued before; returns how many bots received it."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((event, data, intent, done))
        return await done

    async def _broadcast(self, event: str, data: dict[str, Any], intent: int) -> int:
        sent = 0
        guild = data.get(GUILD_ID_FIELD.get(event, "guild_id"))
        guild_id = None if guild is None else int(guild)
        for conn in self.ready:
            assert conn.session is not None
            if intent and not conn.session.intents & intent:
                continue
            if not conn.session.receives(guild_id):
                continue
            await self._dispatch_to(conn, event, data)
            sent += 1
        return sent

    async def wait_ready(self, timeout: float) -> None:
        await self.state.changes.wait_for(lambda: bool(self.ready), timeout, "a bot on the gateway")

    def shards(self) -> set[tuple[int, int]]:
        """The [shard_id, num_shards] of every identified, open connection."""
        return {c.session.shard for c in self.ready if c.session is not None}

    async def close_all(self, code: int = 1000) -> None:
        """Close every connection (e.g. 4000 to make the bot RESUME, 1001 at shutdown)."""
        for conn in list(self.connections):
            await conn.ws.close(code=code, message=b"fake discord closing")
        await asyncio.sleep(0)

    async def stop(self) -> None:
        await self.close_all(1001)
        if self._pump_task is not None:
            self._pump_task.cancel()
            await asyncio.gather(self._pump_task, return_exceptions=True)
