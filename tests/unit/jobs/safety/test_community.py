"""Blocklist and styles in the store, refusals, cool-downs and the /usage safety report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.db import Database, open_database
from bot.errors import (
    BlockedPhraseError,
    CooledDownError,
    InvalidOptionError,
    ScreeningFlaggedError,
)
from bot.guild_settings import GuildConfig
from bot.jobs.safety.community import Asker, CommunitySafety
from bot.jobs.safety.cooldown import CooldownPolicy, cooldown_until
from bot.jobs.safety.screening import RequestPacer, Screener
from bot.provider.moderation import ModerationVerdict

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ALICE = Asker(guild_id=1, channel_id=5, user_id=10)
CONFIG = GuildConfig()  # 3 refusals in 15 minutes -> 30 minutes
SCREENED = GuildConfig(screening="prompts")


class Moderation:
    """Flags any text containing "evil"."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def check(
        self, text: str, image: bytes | None = None, mime: str = "image/jpeg"
    ) -> ModerationVerdict:
        self.calls.append(text)
        return ModerationVerdict("evil" in text, ("violence",) if "evil" in text else ())


@pytest.fixture
async def db(db_target: Path | str) -> AsyncIterator[Database]:
    async with open_database(db_target) as database:
        yield database


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def safety(db: Database, clock: ManualClock) -> CommunitySafety:
    screener = Screener(Moderation(), RequestPacer(500, clock))
    return CommunitySafety(db, screener, clock)


# ---- the cool-down rule ----------------------------------------------------------------------

POLICY = CooldownPolicy(3, timedelta(minutes=15), timedelta(minutes=30))


def at(*minutes: float) -> list[datetime]:
    return [START + timedelta(minutes=m) for m in minutes]


@pytest.mark.parametrize(
    ("refusals", "now", "until"),
    [
        (at(0, 1), 2, None),  # two are not enough
        (at(0, 1, 2), 3, 32),  # the third starts it, for 30 minutes from the third
        (at(0, 1, 2), 32, None),  # and it ends
        (at(0, 10, 16), 17, None),  # never three within 15 minutes
        (at(0, 10, 14), 20, 44),
        (at(0, 1, 2, 40, 41, 42), 50, 72),  # a second cool-down after the first
    ],
)
def test_cooldown_rule(refusals: list[datetime], now: float, until: float | None) -> None:
    expected = None if until is None else START + timedelta(minutes=until)
    assert cooldown_until(refusals, POLICY, START + timedelta(minutes=now)) == expected


def test_no_cooldown_when_turned_off() -> None:
    off = CooldownPolicy(0, timedelta(minutes=15), timedelta(minutes=30))
    assert cooldown_until(at(0, 0, 0, 0), off, START) is None


# ---- blocklist -------------------------------------------------------------------------------


async def test_look_alike_entries_are_one_entry_and_removal_works_either_way(
    safety: CommunitySafety,
) -> None:
    added = await safety.block(1, "ass, ＡＳＳ, bad thing", by=99)
    assert added.changed == ("ass", "bad thing") and added.unchanged == ()
    again = await safety.block(1, "ASS", by=99)
    assert again.changed == () and again.unchanged == ("ASS",)
    removed = await safety.unblock(1, "Àss, nothing")
    assert removed.changed == ("ass",) and removed.unchanged == ("nothing",)
    assert [e.phrase for e in await safety.blocklist(1)] == ["bad thing"]
    assert await safety.blocklist(2) == []


async def test_entries_without_letters_are_refused(safety: CommunitySafety) -> None:
    with pytest.raises(InvalidOptionError):
        await safety.block(1, " ,, ", by=99)
    with pytest.raises(InvalidOptionError):
        await safety.block(1, "ok, ...", by=99)


async def test_blocked_prompt_is_refused_with_the_word_and_recorded(
    safety: CommunitySafety, db: Database
) -> None:
    await safety.block(1, "kill", by=99)
    await safety.check_prompt(ALICE, CONFIG, "a skilled painter")
    with pytest.raises(BlockedPhraseError) as caught:
        await safety.check_prompt(ALICE, CONFIG, "k\u200bill it")
    assert caught.value.phrase == "kill" and caught.value.cooldown_until is None
    rows = await db.fetchall("SELECT user_id, kind, detail FROM refusals")
    assert [tuple(r) for r in rows] == [(10, "blocklist", "kill")]


async def test_a_new_entry_applies_at_once(safety: CommunitySafety) -> None:
    await safety.check_prompt(ALICE, CONFIG, "gore")  # caches the empty list
    await safety.block(1, "gore", by=99)
    with pytest.raises(BlockedPhraseError):
        await safety.check_prompt(ALICE, CONFIG, "gore")


# ---- cool-downs from refusals of every kind --------------------------------------------------


async def _safety_refusal(db: Database, job_id: int, when: datetime) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, operation, prompt,"
            " options_json, state, charged_micro_usd, charged_images, estimated_micro_usd,"
            " estimated_tokens, created_at) VALUES (?, 1, 5, 10, 'generate', 'x', '{}', 'failed',"
            " 0, 0, 0, 0, ?) ON CONFLICT DO NOTHING",
            (job_id, int(when.timestamp())),
        )
        await conn.execute(
            "INSERT INTO api_calls (guild_id, channel_id, user_id, job_id, model, operation, n,"
            " size, quality, cost_micro_usd, price_version, http_status, error_code, latency_ms,"
            " created_at) VALUES (1, 5, 10, ?, 'gpt-image-2', 'generate', 1, 'auto', 'low', 0,"
            " 'v1', 400, 'moderation_blocked', 5, ?)",
            (job_id, int(when.timestamp())),
        )


async def test_the_third_refusal_of_any_kind_cools_the_member_down(
    safety: CommunitySafety, db: Database, clock: ManualClock
) -> None:
    await safety.block(1, "gore", by=99)
    # The safety system refused one job in two of its requests: that is one refusal.
    await _safety_refusal(db, 7, clock.now())
    await _safety_refusal(db, 7, clock.now())
    clock.advance(60)
    with pytest.raises(BlockedPhraseError) as first:
        await safety.check_prompt(ALICE, CONFIG, "gore")
    assert first.value.cooldown_until is None
    await safety.check_member(ALICE, CONFIG)  # two refusals: still welcome
    clock.advance(60)
    with pytest.raises(ScreeningFlaggedError) as third:
        await safety.screen(ALICE, SCREENED, "an evil plan", [])
    until = clock.now() + timedelta(minutes=30)
    assert third.value.cooldown_until == until
    with pytest.raises(CooledDownError) as paused:
        await safety.check_member(ALICE, CONFIG)
    assert paused.value.until == until
    other = Asker(guild_id=1, channel_id=5, user_id=11)
    await safety.check_member(other, CONFIG)  # only that member
    report = await safety.report(1, CONFIG, START, START + timedelta(days=1))
    assert report.counts.blocklist == 1 and report.counts.screening == 1
    assert report.cooled_down == ((10, until),)
    clock.advance(30 * 60)
    await safety.check_member(ALICE, CONFIG)  # over
    assert (await safety.report(1, CONFIG, START, START + timedelta(days=1))).cooled_down == ()


# ---- styles ----------------------------------------------------------------------------------


async def test_styles_are_named_case_insensitively_and_replaced(safety: CommunitySafety) -> None:
    style, replaced = await safety.add_style(1, " Water  Color ", "watercolor, soft", by=99)
    assert style.name == "Water Color" and not replaced
    _, replaced = await safety.add_style(1, "water color", "{prompt} in watercolor", by=99)
    assert replaced
    found = await safety.style(1, "WATER COLOR")
    assert found.prompt == "{prompt} in watercolor" and found.name == "water color"
    assert await safety.remove_style(1, "Water Color") == "water color"
    with pytest.raises(InvalidOptionError) as caught:
        await safety.style(1, "water color")
    assert caught.value.option == "style"
