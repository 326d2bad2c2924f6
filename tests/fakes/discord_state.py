"""Shared state of the fake Discord: clock, change notification, interactions, records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tests.fakes.discord_commands import CommandRegistry
from tests.fakes.discord_messages import MessageStore, RecordedMessage, Upload
from tests.fakes.discord_model import FakeChannel, FakeGuild, FakeMember, FakeWorld, Snowflakes
from tests.fakes.discord_rules import DiscordError, Violation

T = TypeVar("T")
ACK_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0
POLL_INTERVAL = 0.02


class AdvanceableClock(Protocol):
    """Time for the 15-minute token rule: FakeClock, or bot.clock.ManualClock, shared."""

    def monotonic(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class FakeClock:
    """Real monotonic time plus whatever `advance` adds; runs `scale` times faster."""

    def __init__(self, scale: float = 1.0) -> None:
        self._start = time.monotonic()
        self._offset = 0.0
        self.scale = scale

    def monotonic(self) -> float:
        return self._start + (time.monotonic() - self._start) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += max(0.0, seconds)


class Changes:
    """Wakes every waiter whenever the fake's state changes (a message, a callback, a request)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, probe: Callable[[], T | None], timeout: float, what: str) -> T:
        """Re-run `probe` on every change until it returns something truthy; return that."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            event = self._event
            result = probe()
            if result:
                return result
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
            try:
                # Poll too: probes may also watch the bot's own state, which never notifies us.
                await asyncio.wait_for(event.wait(), min(remaining, POLL_INTERVAL))
            except TimeoutError:
                continue


@dataclass(slots=True)
class RecordedRequest:
    """One HTTP request the bot made, with its decoded body and the fake's answer."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: list[Upload]
    status: int = 0
    response: Any = None


@dataclass(slots=True)
class CallbackRecord:
    """One POST .../callback: what the bot sent, when, and whether the fake accepted it."""

    type: int
    data: dict[str, Any]
    files: list[Upload]
    latency: float
    accepted: bool = False
    error: DiscordError | None = None

    @property
    def error_code(self) -> int | None:
        return None if self.error is None else self.error.code


@dataclass(slots=True)
class InteractionRecord:
    """Server-side facts about one interaction the fake dispatched."""

    id: int
    token: str
    type: int
    guild: FakeGuild
    channel: FakeChannel
    member: FakeMember
    attachment_size_limit: int
    payload: dict[str, Any]
    message_type: int = 20
    source_message: RecordedMessage | None = None
    dispatched_at: float = 0.0
    created_fake: float = 0.0
    callbacks: list[CallbackRecord] = field(default_factory=list)
    response: CallbackRecord | None = None
    original: RecordedMessage | None = None
    followups: list[RecordedMessage] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    invalidated: bool = False


@dataclass(frozen=True, slots=True)
class IdentifyRecord:
    """One IDENTIFY the gateway accepted: when (time.monotonic), its shard, its rate-limit bucket
    (shard_id % max_concurrency, https://discord.com/developers/docs/events/gateway#sharding-max-concurrency)."""

    at: float
    shard: tuple[int, int]
    bucket: int


Dispatch = Callable[[str, dict[str, Any], int], Awaitable[int]]


class FakeState:
    """Everything the REST routes, the gateway and the test-facing API share."""

    def __init__(self, *, token: str, bot_name: str, clock: AdvanceableClock | None) -> None:
        self.token = token
        now = getattr(clock, "now", None)  # bot.clock's clocks carry the wall time as well
        self.ids = Snowflakes((lambda: now().timestamp()) if now else time.time)
        self.world = FakeWorld(self.ids, bot_name=bot_name)
        self.store = MessageStore(self.ids)
        self.commands = CommandRegistry(self.ids, self.world.application_id)
        self.clock: AdvanceableClock = clock or FakeClock()
        self.changes = Changes()
        self.interactions: dict[int, InteractionRecord] = {}
        self.by_token: dict[str, InteractionRecord] = {}
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.ack_deadline = ACK_DEADLINE
        self.token_lifetime = TOKEN_LIFETIME
        self.dispatch: Dispatch | None = None
        # GET /gateway/bot: the recommended shard count and session_start_limit.max_concurrency
        # (https://discord.com/developers/docs/events/gateway#get-gateway-bot).
        self.recommended_shards = 1
        self.max_concurrency = 1
        self.session_start_total = 1000
        self.identifies: list[IdentifyRecord] = []

    def register(self, record: InteractionRecord) -> None:
        self.interactions[record.id] = record
        self.by_token[record.token] = record

    def token_expired(self, record: InteractionRecord) -> bool:
        return self.clock.monotonic() - record.created_fake > self.token_lifetime

    def late(self, record: InteractionRecord) -> bool:
        return time.monotonic() - record.dispatched_at > self.ack_deadline

    async def emit(self, event: str, data: dict[str, Any], intent: int) -> None:
        """Send a gateway event to connected bots that asked for `intent`."""
        if self.dispatch is not None:
            await self.dispatch(event, data, intent)
