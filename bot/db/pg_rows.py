"""How psycopg hands PostgreSQL's values and rows to the store: as SQLite's driver does."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, ClassVar

import psycopg
from psycopg.adapt import Buffer, Loader
from psycopg.rows import RowMaker


class PgRow(tuple[Any, ...]):
    """A row read by column name or position, like sqlite3.Row."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def row_factory(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[PgRow]:
    # The column names straight from the result: `cursor.description` builds a Column object
    # per column, per query, which cost more than the statement's own trip (cProfile of
    # benchmarks/cluster.py).
    result = cursor.pgresult
    names = tuple(result.fname(i) or b"" for i in range(result.nfields)) if result else ()
    return _row_class(names)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[bytes, ...]) -> type[PgRow]:
    """One row class per set of columns (the store has a few hundred queries at most)."""
    index = {name.decode(): i for i, name in enumerate(names)}
    return type("Row", (PgRow,), {"__slots__": (), "_index": index})


class _IntegralNumericLoader(Loader):
    """SUM(bigint) is numeric in PostgreSQL: whole numbers come back as int, as on SQLite."""

    def load(self, data: Buffer) -> int | Decimal:
        text = bytes(data).decode()
        return Decimal(text) if "." in text or "N" in text else int(text)


class _TextLoader(Loader):
    """json values come back as their text, as SQLite's json functions return it."""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode()


async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
    """Numeric sums as int and json as text, on every connection (pooled or not)."""
    conn.adapters.register_loader("numeric", _IntegralNumericLoader)
    conn.adapters.register_loader("json", _TextLoader)
