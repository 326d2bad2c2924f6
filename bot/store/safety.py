"""Guild blocklists, named styles and admission refusals (SQL only here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.db import Reader, Transaction
from bot.text import name_key

RefusalKind = Literal["blocklist", "screening"]


@dataclass(frozen=True, slots=True)
class BlockedPhrase:
    """One blocklist entry: as written, and its folded key (what makes two entries the same)."""

    phrase: str
    key: str
    added_by: int
    added_at: datetime


@dataclass(frozen=True, slots=True)
class Style:
    """A guild's named style; `prompt` may hold `{prompt}` where the member's prompt goes."""

    name: str
    prompt: str
    created_by: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal that counts towards a cool-down: when, whose, and which check made it."""

    user_id: int
    kind: Literal["blocklist", "screening", "safety"]
    at: datetime


@dataclass(frozen=True, slots=True)
class RefusalCounts:
    """Refusals at admission in a window, by check (the safety system's are in the ledger)."""

    blocklist: int = 0
    screening: int = 0


def _ts(when: datetime) -> int:
    return int(when.timestamp())


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def refusals_sql(since: str, *, member: bool) -> str:
    """The refusals that count towards a cool-down, oldest first, as (user_id, kind, created_at):
    the blocklist's and screening's, and the safety system's (ledger rows with
    `moderation_blocked`, one per job). Parameters :guild (and :user when `member`); `since` is
    an SQL expression of the earliest time (epoch seconds). bot/store/standing.py uses it too."""
    scope = " AND user_id = :user" if member else ""
    return (
        "SELECT user_id, kind, created_at FROM refusals"  # noqa: S608 - fixed fragments
        f" WHERE guild_id = :guild{scope} AND created_at >= {since}"
        " UNION ALL SELECT user_id, 'safety', MIN(created_at) FROM api_calls"
        f" WHERE guild_id = :guild{scope} AND created_at >= {since}"
        " AND error_code = 'moderation_blocked'"
        " GROUP BY user_id, COALESCE(job_id, -id) ORDER BY 3"
    )


# ---- blocklist -------------------------------------------------------------------------------
async def blocklist(db: Reader, guild_id: int) -> list[BlockedPhrase]:
    rows = await db.fetchall(
        "SELECT phrase, phrase_key, added_by, added_at FROM blocklist WHERE guild_id = ?"
        " ORDER BY phrase_key",
        (guild_id,),
    )
    return [BlockedPhrase(r[0], r[1], r[2], _dt(r[3])) for r in rows]


async def block(
    conn: Transaction, guild_id: int, entries: Sequence[tuple[str, str]], *, by: int, now: datetime
) -> list[str]:
    """Add (key, phrase) entries; returns the phrases that were new."""
    added = []
    for key, phrase in entries:
        written = await conn.execute(
            "INSERT INTO blocklist (guild_id, phrase_key, phrase, added_by, added_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, phrase_key) DO NOTHING",
            (guild_id, key, phrase, by, _ts(now)),
        )
        if written.rowcount:
            added.append(phrase)
    return added


async def unblock(conn: Transaction, guild_id: int, keys: Sequence[str]) -> list[str]:
    """Remove entries by key; returns the phrases (as they were added) that were removed."""
    removed: list[str] = []
    for key in keys:
        rows = await conn.fetchall(
            "DELETE FROM blocklist WHERE guild_id = ? AND phrase_key = ? RETURNING phrase",
            (guild_id, key),
        )
        removed.extend(str(row[0]) for row in rows)
    return removed


# ---- styles ----------------------------------------------------------------------------------
async def styles(db: Reader, guild_id: int) -> list[Style]:
    rows = await db.fetchall(
        "SELECT name, prompt, created_by, created_at FROM styles WHERE guild_id = ?"
        " ORDER BY name_key",
        (guild_id,),
    )
    return [Style(r[0], r[1], r[2], _dt(r[3])) for r in rows]


async def style(db: Reader, guild_id: int, name: str) -> Style | None:
    row = await db.fetchone(
        "SELECT name, prompt, created_by, created_at FROM styles"
        " WHERE guild_id = ? AND name_key = ?",
        (guild_id, name_key(name)),
    )
    return None if row is None else Style(row[0], row[1], row[2], _dt(row[3]))


async def put_style(conn: Transaction, guild_id: int, style: Style) -> bool:
    """Add or replace a style; True when it replaced one of the same name."""
    existed = (
        await conn.fetchone(
            "SELECT 1 FROM styles WHERE guild_id = ? AND name_key = ?",
            (guild_id, name_key(style.name)),
        )
        is not None
    )
    await conn.execute(
        "INSERT INTO styles (guild_id, name_key, name, prompt, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, name_key) DO UPDATE SET"
        " name = excluded.name, prompt = excluded.prompt,"
        " created_by = excluded.created_by, created_at = excluded.created_at",
        (guild_id, name_key(style.name), style.name, style.prompt, style.created_by,
         _ts(style.created_at)),
    )  # fmt: skip
    return existed


async def remove_style(conn: Transaction, guild_id: int, name: str) -> str | None:
    """Remove a style by name (any case); its name as stored, or None if there was none."""
    row = await conn.fetchone(
        "DELETE FROM styles WHERE guild_id = ? AND name_key = ? RETURNING name",
        (guild_id, name_key(name)),
    )
    return None if row is None else str(row[0])


# ---- refusals --------------------------------------------------------------------------------
async def record_refusal(
    conn: Transaction,
    *,
    guild_id: int,
    channel_id: int,
    user_id: int,
    kind: RefusalKind,
    detail: str,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO refusals (guild_id, channel_id, user_id, kind, detail, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (guild_id, channel_id, user_id, kind, detail, _ts(now)),
    )


async def refusals_since(
    db: Reader, guild_id: int, since: datetime, user_id: int | None = None
) -> list[Refusal]:
    """Every refusal since `since`, oldest first: the blocklist's and screening's, and the
    safety system's (ledger rows with `moderation_blocked`, one per job)."""
    sql = refusals_sql(":since", member=user_id is not None)
    params = {"guild": guild_id, "user": user_id, "since": _ts(since)}
    rows = await db.fetchall(sql, params)
    return [Refusal(int(r[0]), r[1], _dt(r[2])) for r in rows]


async def refusal_counts(
    db: Reader, guild_id: int, start: datetime | None, end: datetime, user_id: int | None = None
) -> RefusalCounts:
    """Admission refusals by check in [start, end) (start None = from the first)."""
    scope, params = ("", ()) if user_id is None else (" AND user_id = ?", (user_id,))
    low = _ts(start) if start is not None else -(2**62)
    rows = await db.fetchall(
        "SELECT kind, COUNT(*) FROM refusals"  # noqa: S608 - fixed fragments
        f" WHERE guild_id = ?{scope} AND created_at >= ? AND created_at < ? GROUP BY kind",
        (guild_id, *params, low, _ts(end)),
    )
    counts = {str(r[0]): int(r[1]) for r in rows}
    return RefusalCounts(counts.get("blocklist", 0), counts.get("screening", 0))
