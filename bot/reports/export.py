"""CSV export of ledger rows, zipped when the CSV would not fit under a byte limit."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from bot.money import usd6
from bot.store.usage import LedgerRow

COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "guild_id",
    "channel_id",
    "user_id",
    "user",  # the member's name and id as text: spreadsheets round 19-digit numbers
    "job_id",
    "model",
    "operation",
    "n",
    "images",
    "size",
    "quality",
    "text_input_tokens",
    "cached_text_input_tokens",
    "image_input_tokens",
    "cached_image_input_tokens",
    "image_output_tokens",
    "text_output_tokens",
    "partial_images",
    "cost_usd",
    "cost_micro_usd",
    "price_version",
    "request_id",
    "http_status",
    "error_code",
    "latency_ms",
    "speed",  # fast, or relaxed (a Batch API line at the batch price)
    "fast_price_usd",  # relaxed rows: what the same usage costs at the fast price
    # actual (measured; price_version says how: usage, the provider's own cost, or its
    # per-image price) | estimated (no usage from the provider) | in_doubt (answer lost)
    "billing",
)
CSV_MIME = "text/csv"
ZIP_MIME = "application/zip"
# Spreadsheets run cells that start with these as formulas; text cells get a leading quote.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A file ready to attach: its name, bytes and mimetype, and how many ledger rows it holds."""

    filename: str
    data: bytes = field(repr=False)
    mime: str
    rows: int
    compressed: bool


class LedgerCsvWriter:
    """Writes ledger rows as CSV in memory, switching to a zip once the CSV passes the limit.

    Rows arrive in chunks, so a large export never holds more than one chunk of rows plus the
    output; once compressing, the uncompressed CSV is not kept.
    """

    def __init__(
        self, *, limit_bytes: int, name: str = "usage", names: Mapping[int, str] | None = None
    ) -> None:
        self._limit = limit_bytes
        self._names = names or {}
        self._name = name
        self._raw: io.BytesIO | None = io.BytesIO()
        self._zip_buffer = io.BytesIO()
        self._zip: zipfile.ZipFile | None = None
        self._entry: IO[bytes] | None = None
        self._rows = 0
        self._emit(_csv_lines([COLUMNS]))

    def write_rows(self, rows: Iterable[LedgerRow]) -> None:
        """Append rows (in the order given)."""
        lines = [_cells(row, self._names.get(row.user_id)) for row in rows]
        self._rows += len(lines)
        self._emit(_csv_lines(lines))

    def finish(self) -> ExportFile:
        """The finished file: `<name>.csv`, or `<name>.zip` holding it when over the limit."""
        if self._raw is not None:
            data = self._raw.getvalue()
            return ExportFile(f"{self._name}.csv", data, CSV_MIME, self._rows, compressed=False)
        assert self._zip is not None and self._entry is not None
        self._entry.close()
        self._zip.close()
        data = self._zip_buffer.getvalue()
        return ExportFile(f"{self._name}.zip", data, ZIP_MIME, self._rows, compressed=True)

    def _emit(self, data: bytes) -> None:
        if self._raw is not None:
            self._raw.write(data)
            if self._raw.tell() <= self._limit:
                return
            data, self._raw = self._raw.getvalue(), None
            self._zip = zipfile.ZipFile(self._zip_buffer, "w", zipfile.ZIP_DEFLATED)
            self._entry = self._zip.open(f"{self._name}.csv", "w")
        assert self._entry is not None
        self._entry.write(data)


def ledger_csv(rows: Iterable[LedgerRow], *, limit_bytes: int, name: str = "usage") -> ExportFile:
    """Ledger rows as one CSV file (header row, one row per API call), zipped over the limit.

    Cost is given twice: in USD with 6 decimals and in integer micro-USD; times are ISO 8601
    UTC ("2026-03-01T12:00:00Z").
    """
    writer = LedgerCsvWriter(limit_bytes=limit_bytes, name=name)
    writer.write_rows(rows)
    return writer.finish()


def _csv_lines(rows: Iterable[Iterable[object]]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode("utf-8")


def _text(value: str | None) -> str | None:
    if value is None or not value.startswith(_FORMULA_PREFIXES):
        return value
    return "'" + value


def _iso_utc(moment: datetime) -> str:
    # isoformat is several times faster than strftime, which matters at 100,000 rows.
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def member_text(user_id: int, name: str | None) -> str:
    """ "Alice (id 1234…)": text in any spreadsheet, never a number it would round."""
    shown = (_text(name) or "").replace("(", "[").replace(")", "]")
    return f"{shown} (id {user_id})" if shown else f"id {user_id}"


def _cells(row: LedgerRow, name: str | None = None) -> tuple[object, ...]:
    # csv writes None as an empty cell. Text that can come from outside (the catalog, the API's
    # headers and errors) is guarded; operation, size and quality were validated at admission.
    return (
        row.id,
        _iso_utc(row.created_at),
        row.guild_id,
        row.channel_id,
        row.user_id,
        member_text(row.user_id, name),
        row.job_id,
        _text(row.model),
        row.operation,
        row.n,
        row.images,
        row.size,
        row.quality,
        row.text_input_tokens,
        row.cached_text_input_tokens,
        row.image_input_tokens,
        row.cached_image_input_tokens,
        row.image_output_tokens,
        row.text_output_tokens,
        row.partial_images,
        usd6(row.cost_micro_usd),
        row.cost_micro_usd,
        _text(row.price_version),
        _text(row.request_id),
        row.http_status,
        _text(row.error_code),
        row.latency_ms,
        row.speed,
        None if row.fast_cost_micro_usd is None else usd6(row.fast_cost_micro_usd),
        row.billing,
    )
