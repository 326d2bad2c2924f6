"""Typed, error-naming access to TOML tables: the reader behind the model catalog loader."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from bot.errors import CatalogError
from bot.money import MICRO_PER_USD

RESOLVED_QUALITIES: tuple[str, ...] = ("low", "medium", "high", "xhigh", "max")
# What quality "auto" may resolve to, priced as the dearest of them (README: "auto" priced as high):
# the API picks among these, never xhigh or max, which cost more and must be asked for.
AUTO_QUALITIES: tuple[str, ...] = ("low", "medium", "high")
_SIZE_RE = re.compile(r"^\s*([1-9]\d{0,5})\s*[x×*]\s*([1-9]\d{0,5})\s*$", re.IGNORECASE)


def parse_size(size: str) -> tuple[int, int] | None:
    """`"1536x1024"` -> (1536, 1024); None for "auto" or anything that is not WxH."""
    match = _SIZE_RE.match(size)
    return (int(match[1]), int(match[2])) if match else None


def merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`: tables merge key by key, anything else (lists too) replaces."""
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        both_tables = isinstance(value, dict) and isinstance(old, dict)
        merged[key] = merge_tables(old, value) if both_tables else value  # type: ignore[arg-type]
    return merged


_MISSING: Any = object()


class FieldReader:
    """Typed access to one model's merged table; every error names the file, model and field."""

    def __init__(self, source: str, name: str, raw: Mapping[str, Any]) -> None:
        self.source, self.name, self.raw = source, name, raw

    def fail(self, field: str, reason: str) -> CatalogError:
        return CatalogError(f"{self.source}: model {self.name!r}, field {field!r}: {reason}")

    def get(self, field: str, default: Any = _MISSING) -> Any:
        node: Any = self.raw
        for part in field.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is _MISSING:
                    raise self.fail(field, "is required")
                return default
            node = node[part]
        return node

    def integer(self, field: str, default: Any = _MISSING, *, minimum: int = 0) -> int:
        value = self.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(field, f"must be a whole number >= {minimum}, not {value!r}")
        return value

    def flag(self, field: str, default: Any = _MISSING) -> bool:
        value = self.get(field, default)
        if not isinstance(value, bool):
            raise self.fail(field, f"must be true or false, not {value!r}")
        return value

    def micro_usd(self, field: str, default: Any = _MISSING) -> int:
        """USD as written (a TOML number) -> exact integer micro-USD, via Decimal(str(x))."""
        value = self.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"must be a number of US dollars, not {value!r}")
        try:
            micro = Decimal(str(value)) * MICRO_PER_USD
        except InvalidOperation as exc:  # nan/inf cannot become money
            raise self.fail(field, f"must be a finite number, not {value!r}") from exc
        if not micro.is_finite() or micro < 0 or micro != micro.to_integral_value():
            raise self.fail(field, f"must be >= 0 with at most 6 decimals, not {value!r}")
        return int(micro)

    def strings(self, field: str, default: Any = _MISSING) -> tuple[str, ...]:
        value = self.get(field, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.fail(field, "must be a list of strings")
        return tuple(value)

    def optional_text(self, field: str) -> str | None:
        value = self.get(field, "")
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string, not {value!r}")
        return value.strip() or None

    def day(self, field: str) -> date | None:
        value = self.get(field, "")
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise self.fail(field, f'must be "YYYY-MM-DD" or "" for none, not {value!r}')
        try:
            return date.fromisoformat(value) if value.strip() else None
        except ValueError as exc:
            raise self.fail(field, f'must be "YYYY-MM-DD" or "" for none, not {value!r}') from exc

    def table(self, field: str, cell: Callable[[str], int]) -> Mapping[str, Mapping[str, int]]:
        """size -> quality -> number, sizes normalised to WxH, resolved qualities."""
        rows = self.get(field, {})
        if not isinstance(rows, Mapping):
            raise self.fail(field, 'must be a table of [..."WxH"] tables')
        out: dict[str, Mapping[str, int]] = {}
        for size, row in rows.items():
            parsed = parse_size(size)
            if parsed is None or not isinstance(row, Mapping):
                raise self.fail(f"{field}.{size}", "must be a WxH table of qualities")
            for quality in row:
                if quality not in RESOLVED_QUALITIES:
                    known = ", ".join(RESOLVED_QUALITIES)
                    raise self.fail(f"{field}.{size}.{quality}", f"quality must be one of {known}")
            cells = {q: cell(f"{field}.{size}.{q}") for q in row}
            out[f"{parsed[0]}x{parsed[1]}"] = MappingProxyType(cells)
        return MappingProxyType(out)
