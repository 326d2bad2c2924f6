"""Which guilds are served (GUILDS): every command elsewhere is refused before anything is spent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.db import Database
from bot.errors import GuildNotServedError
from bot.store import access as store

# Is this user a member of this guild? (the Discord layer asks Discord)
MembershipProbe = Callable[[int, int], Awaitable[bool]]
# An operator joining or leaving a guild is noticed within this long; every command of a served
# guild asks the cache, not Discord.
MEMBERSHIP_TTL = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class GuildStatus:
    """One guild the bot is in, as /operator guilds shows it."""

    guild_id: int
    served: bool
    month_micro_usd: int


class GuildAccess:
    """GUILDS in force: `all`, a list of ids, or `operators` (guilds an operator is in, plus those
    an operator allowed); an operator's deny stops a guild in every mode."""

    def __init__(
        self, mode: str, listed: frozenset[int] | None, db: Database, clock: Clock
    ) -> None:
        self._mode = mode
        self._listed = listed or frozenset()
        self._db = db
        self._clock = clock
        self._decisions: dict[int, bool] | None = None
        self._members: dict[int, tuple[bool, datetime]] = {}
        self.operators: frozenset[int] = frozenset()
        self._probe: MembershipProbe | None = None

    def connect(self, operators: frozenset[int], probe: MembershipProbe) -> None:
        """At log-in: the operators (OPERATOR_IDS, else the application's owner or team) and how
        to ask Discord whether a user is in a guild."""
        self.operators = operators
        self._probe = probe
        self._members.clear()

    def is_operator(self, user_id: int) -> bool:
        return user_id in self.operators

    async def check(self, guild_id: int) -> None:
        """Raise GuildNotServedError unless the bot serves `guild_id`."""
        if not await self.served(guild_id):
            raise GuildNotServedError(guild_id)

    async def served(self, guild_id: int) -> bool:
        decision = (await self._decided()).get(guild_id)
        if decision is not None:
            return decision
        if self._mode == "all":
            return True
        if guild_id in self._listed:
            return True
        return self._mode == "operators" and await self._has_operator(guild_id)

    async def decide(self, guild_id: int, allowed: bool, by: int) -> None:
        """/operator allow or deny: remembered across restarts."""
        async with self._db.transaction() as conn:
            await store.decide(conn, guild_id, allowed, by, self._clock.now())
        (await self._decided())[guild_id] = allowed

    async def statuses(self, guild_ids: list[int], month: datetime) -> list[GuildStatus]:
        spend = await store.spend_since(self._db, month)
        return [
            GuildStatus(guild_id, await self.served(guild_id), spend.get(guild_id, 0))
            for guild_id in guild_ids
        ]

    async def _decided(self) -> dict[int, bool]:
        if self._decisions is None:
            self._decisions = await store.decisions(self._db)
        return self._decisions

    async def _has_operator(self, guild_id: int) -> bool:
        now = self._clock.now()
        cached = self._members.get(guild_id)
        if cached is not None and now - cached[1] < MEMBERSHIP_TTL:
            return cached[0]
        found = False
        if self._probe is not None:
            for operator in sorted(self.operators):
                if await self._probe(guild_id, operator):
                    found = True
                    break
        self._members[guild_id] = (found, now)
        return found
