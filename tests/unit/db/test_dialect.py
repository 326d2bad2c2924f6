"""The store's SQLite-style SQL as psycopg reads it: placeholders, literal %, JSON aggregates."""

from __future__ import annotations

import pytest

from bot.db.dialect import to_postgresql


@pytest.mark.parametrize(
    ("sqlite", "postgresql"),
    [
        (
            "SELECT * FROM jobs WHERE id = ? AND state = ?",
            "SELECT * FROM jobs WHERE id = %s AND state = %s",
        ),
        (
            "WHERE guild_id = :guild AND day >= :day",
            "WHERE guild_id = %(guild)s AND day >= %(day)s",
        ),
        ("SELECT ':not_a_name', '?', 'it''s :x%'", "SELECT ':not_a_name', '?', 'it''s :x%%'"),
        ('SELECT "odd:name" FROM t', 'SELECT "odd:name" FROM t'),
        ("WHERE prompt LIKE '50%' OR x = ?", "WHERE prompt LIKE '50%%' OR x = %s"),
        (
            "SELECT x::text -- why? :because 5%\nFROM t",
            "SELECT x::text -- why? :because 5%%\nFROM t",
        ),
        (
            "SELECT json_group_array(json_array(a, b)), json_group_object(k, v)",
            "SELECT json_agg(json_build_array(a, b)), json_object_agg(k, v)",
        ),
        ("SELECT my_json_array(a)", "SELECT my_json_array(a)"),
    ],
)  # fmt: skip
def test_placeholders_and_functions_are_rewritten_outside_literals(
    sqlite: str, postgresql: str
) -> None:
    assert to_postgresql(sqlite) == postgresql
