"""Community safety at admission (cool-down, blocklist, screening) and its moderator tools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.db import Database
from bot.domain import InputImage
from bot.errors import (
    BlockedPhraseError,
    CooledDownError,
    InvalidOptionError,
    SafetyRefusalError,
    ScreeningFlaggedError,
)
from bot.guild_settings import GuildConfig
from bot.jobs.safety.blocklist import (
    MAX_PHRASE_CHARS,
    MAX_PHRASES,
    Blocklist,
    phrase_key,
    split_phrases,
)
from bot.jobs.safety.cooldown import CooldownPolicy, cooldown_until
from bot.jobs.safety.screening import Screener
from bot.jobs.safety.styles import MAX_STYLES, check_style
from bot.store import safety as store
from bot.store.safety import BlockedPhrase, RefusalCounts, RefusalKind, Style


@dataclass(frozen=True, slots=True)
class Asker:
    """Who submitted a job, and where: what a refusal is recorded against."""

    guild_id: int
    channel_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class PhraseChange:
    """The outcome of /blocklist add or remove: what changed, and what was left as it was."""

    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SafetyReport:
    """For /usage: admission refusals in the period, and who is cooled down now (until when)."""

    counts: RefusalCounts
    cooled_down: tuple[tuple[int, datetime], ...]


class CommunitySafety:
    """The guild's own checks, run at admission before anything is reserved or sent."""

    def __init__(self, db: Database, screener: Screener, clock: Clock) -> None:
        self._db = db
        self._screener = screener
        self._clock = clock
        self._blocklists: dict[int, Blocklist] = {}

    # ---- admission --------------------------------------------------------------------------
    async def check_member(self, who: Asker, config: GuildConfig) -> None:
        """CooledDownError if the member was refused too often lately."""
        policy = CooldownPolicy.of(config)
        if policy.enabled:
            since = self._clock.now() - policy.lookback
            self.check_cooldown(config, await self._refusal_times(who, since))

    def check_cooldown(self, config: GuildConfig, refusal_times: Sequence[datetime]) -> None:
        """CooledDownError if the member's refusals at these times (UTC; any that reach back
        at least the policy's lookback) have them cooled down now."""
        policy = CooldownPolicy.of(config)
        now = self._clock.now()
        until = cooldown_until(refusal_times, policy, now)
        if until is not None:
            raise CooledDownError(until, policy.refusals)

    async def check_prompt(self, who: Asker, config: GuildConfig, prompt: str) -> None:
        """BlockedPhraseError (recorded) if the member's prompt holds a blocklisted phrase."""
        found = (await self._blocklist(who.guild_id)).find(prompt)
        if found is not None:
            await self._refuse(who, config, BlockedPhraseError(found), found, prompt)

    async def screen(
        self, who: Asker, config: GuildConfig, prompt: str, images: Sequence[InputImage]
    ) -> None:
        """Screen what would be sent; a flag is recorded and raised, an outage raised."""
        try:
            await self._screener.screen(config.screening, prompt, images)
        except ScreeningFlaggedError as flagged:
            detail = f"{flagged.source}: {', '.join(flagged.categories)}"
            await self._refuse(who, config, flagged, detail, prompt)

    async def _refuse(
        self, who: Asker, config: GuildConfig, error: SafetyRefusalError, detail: str, prompt: str
    ) -> None:
        now = self._clock.now()
        error.prompt = prompt
        kind: RefusalKind = "blocklist" if isinstance(error, BlockedPhraseError) else "screening"
        async with self._db.transaction() as conn:
            await store.record_refusal(
                conn, guild_id=who.guild_id, channel_id=who.channel_id, user_id=who.user_id,
                kind=kind, detail=detail, now=now,
            )  # fmt: skip
        policy = CooldownPolicy.of(config)
        if policy.enabled:
            times = await self._refusal_times(who, now - policy.lookback)
            error.cooldown_until = cooldown_until(times, policy, now)
        raise error

    async def _refusal_times(self, who: Asker, since: datetime) -> list[datetime]:
        refusals = await store.refusals_since(self._db, who.guild_id, since, who.user_id)
        return [r.at for r in refusals]

    async def _blocklist(self, guild_id: int) -> Blocklist:
        cached = self._blocklists.get(guild_id)
        if cached is None:
            entries = await store.blocklist(self._db, guild_id)
            cached = self._blocklists[guild_id] = Blocklist.of(e.phrase for e in entries)
        return cached

    # ---- moderators: blocklist --------------------------------------------------------------
    async def blocklist(self, guild_id: int) -> list[BlockedPhrase]:
        return await store.blocklist(self._db, guild_id)

    async def block(self, guild_id: int, text: str, *, by: int) -> PhraseChange:
        """Add comma-separated words and phrases; InvalidOptionError for unusable ones."""
        entries = _entries(text)
        current = await store.blocklist(self._db, guild_id)
        if len(current) + len(entries) > MAX_PHRASES:
            raise InvalidOptionError("words", f"a server can block at most {MAX_PHRASES} words")
        async with self._db.transaction() as conn:
            added = await store.block(conn, guild_id, entries, by=by, now=self._clock.now())
        self._blocklists.pop(guild_id, None)
        return PhraseChange(tuple(added), tuple(p for _, p in entries if p not in added))

    async def unblock(self, guild_id: int, text: str) -> PhraseChange:
        entries = _entries(text)
        async with self._db.transaction() as conn:
            removed = await store.unblock(conn, guild_id, [key for key, _ in entries])
        self._blocklists.pop(guild_id, None)
        gone = {phrase_key(p) for p in removed}
        return PhraseChange(tuple(removed), tuple(p for k, p in entries if k not in gone))

    # ---- moderators: styles -----------------------------------------------------------------
    async def styles(self, guild_id: int) -> list[Style]:
        return await store.styles(self._db, guild_id)

    async def style(self, guild_id: int, name: str) -> Style:
        """The style of that name (any case), or InvalidOptionError for the `style` option."""
        style = await store.style(self._db, guild_id, name.strip())
        if style is None:
            raise InvalidOptionError("style", f"this server has no style named “{name}”; "
                                     "see `/style list`")  # fmt: skip
        return style

    async def add_style(
        self, guild_id: int, name: str, text: str, *, by: int
    ) -> tuple[Style, bool]:
        """Add or replace a style; (the style, True if it replaced one)."""
        name, text = check_style(name, text)
        new = await store.style(self._db, guild_id, name) is None
        if new and len(await store.styles(self._db, guild_id)) >= MAX_STYLES:
            raise InvalidOptionError("name", f"a server can have at most {MAX_STYLES} styles")
        style = Style(name, text, by, self._clock.now())
        async with self._db.transaction() as conn:
            return style, await store.put_style(conn, guild_id, style)

    async def remove_style(self, guild_id: int, name: str) -> str:
        async with self._db.transaction() as conn:
            removed = await store.remove_style(conn, guild_id, name.strip())
        if removed is None:
            raise InvalidOptionError("name", f"this server has no style named “{name}”")
        return removed

    # ---- /usage -----------------------------------------------------------------------------
    async def report(
        self, guild_id: int, config: GuildConfig, start: datetime | None, end: datetime,
        user_id: int | None = None,
    ) -> SafetyReport:  # fmt: skip
        counts = await store.refusal_counts(self._db, guild_id, start, end, user_id)
        policy = CooldownPolicy.of(config)
        if not policy.enabled:
            return SafetyReport(counts, ())
        now = self._clock.now()
        by_user: dict[int, list[datetime]] = {}
        for r in await store.refusals_since(self._db, guild_id, now - policy.lookback, user_id):
            by_user.setdefault(r.user_id, []).append(r.at)
        cooled = ((user, cooldown_until(times, policy, now)) for user, times in by_user.items())
        return SafetyReport(counts, tuple((u, t) for u, t in cooled if t is not None))


def _entries(text: str) -> list[tuple[str, str]]:
    """(key, phrase) of each comma-separated phrase, one per key; InvalidOptionError if none."""
    entries: dict[str, str] = {}
    for phrase in split_phrases(text):
        if len(phrase) > MAX_PHRASE_CHARS:
            raise InvalidOptionError("words", f"“{phrase[:40]}…” is longer than "
                                     f"{MAX_PHRASE_CHARS} characters")  # fmt: skip
        key = phrase_key(phrase)
        if not key:
            raise InvalidOptionError("words", f"“{phrase}” has no letters or digits to match")
        entries.setdefault(key, phrase)
    if not entries:
        raise InvalidOptionError("words", "give one or more words, separated by commas")
    return [(key, phrase) for key, phrase in entries.items()]
