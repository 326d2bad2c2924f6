"""The store's SQL, written for SQLite, as PostgreSQL (psycopg) reads it.

The store writes one text per query: `?` and `:name` placeholders and a few SQLite function
names. This rewrites the placeholders to psycopg's `%s` and `%(name)s` outside string
literals, quoted names and comments, doubles every `%` (psycopg reads them even in literals;
bot/db/postgres.py always passes parameters, so they are always read), and renames the
functions that differ; tests/unit/db/test_dialect.py pins it. SQL further apart than this is
written so that both read it (aliased subqueries, CASE rather than SUM of a comparison).
"""

from __future__ import annotations

import re
from functools import lru_cache

# SQLite's JSON aggregates and their PostgreSQL equivalents (both return json text here).
_FUNCTIONS = {
    "json_group_array": "json_agg",
    "json_group_object": "json_object_agg",
    "json_array": "json_build_array",
}
_FUNCTION = re.compile(r"\b(" + "|".join(_FUNCTIONS) + r")\s*\(", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@lru_cache(maxsize=1024)
def to_postgresql(sql: str) -> str:
    """`sql` with psycopg's placeholders and PostgreSQL's function names."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = _closing_quote(sql, i)
            out.append(sql[i:end].replace("%", "%%"))  # psycopg reads % even in literals
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "?":
            out.append("%s")
            i += 1
        elif char == "%":
            out.append("%%")
            i += 1
        elif char == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif char == ":" and (name := _NAME.match(sql, i + 1)):
            out.append(f"%({name.group()})s")
            i = name.end()
        else:
            word = _FUNCTION.match(sql, i) if char.isalpha() and _starts_word(sql, i) else None
            if word:
                out.append(_FUNCTIONS[word.group(1).lower()] + "(")
                i = word.end()
            else:
                out.append(char)
                i += 1
    return "".join(out)


def _starts_word(sql: str, i: int) -> bool:
    return i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")


def _closing_quote(sql: str, start: int) -> int:
    """The index after the literal or quoted name opening at `start` ('' and "" escape)."""
    quote, i = sql[start], start + 1
    while i < len(sql):
        if sql[i] == quote:
            if sql.startswith(quote * 2, i):
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)
