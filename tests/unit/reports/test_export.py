"""Ledger CSV export: columns and formats, and the zip fallback over the byte limit."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from bot.reports.export import COLUMNS, ExportFile, LedgerCsvWriter, ledger_csv
from bot.store.usage import LedgerRow

BASE = LedgerRow(
    id=1,
    created_at=datetime(2026, 3, 15, 10, 4, 5, tzinfo=UTC),
    guild_id=100,
    channel_id=10,
    user_id=1,
    job_id=7,
    model="gpt-image-1",
    operation="generate",
    n=2,
    images=2,
    size="1024x1024",
    quality="medium",
    text_input_tokens=50,
    cached_text_input_tokens=0,
    image_input_tokens=0,
    cached_image_input_tokens=0,
    image_output_tokens=2112,
    text_output_tokens=0,
    partial_images=0,
    cost_micro_usd=10_900,
    price_version="2026-03-01",
    request_id="req_abc",
    http_status=200,
    error_code=None,
    latency_ms=12_345,
)


def rows(count: int) -> list[LedgerRow]:
    return [
        replace(
            BASE,
            id=n + 1,
            created_at=BASE.created_at + timedelta(seconds=n),
            user_id=n % 50,
            cost_micro_usd=1_000 + n,
            request_id=f"req_{n:08x}",
        )
        for n in range(count)
    ]


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_header_then_one_row_per_call_with_usd_and_micro_usd() -> None:
    failed = replace(BASE, id=2, job_id=None, http_status=None, error_code="server_error")
    export = ledger_csv([BASE, failed], limit_bytes=10_000)
    header, first, second = parse(export.data)
    assert tuple(header) == COLUMNS
    row = dict(zip(header, first, strict=True))
    assert row["created_at"] == "2026-03-15T10:04:05Z"
    assert (row["cost_usd"], row["cost_micro_usd"]) == ("0.010900", "10900")
    assert (row["model"], row["images"], row["request_id"]) == ("gpt-image-1", "2", "req_abc")
    assert row["error_code"] == ""
    other = dict(zip(header, second, strict=True))
    assert (other["job_id"], other["http_status"], other["error_code"]) == ("", "", "server_error")
    assert (export.filename, export.mime, export.rows, export.compressed) == (
        "usage.csv",
        "text/csv",
        2,
        False,
    )


def test_times_are_written_in_utc() -> None:
    paris = BASE.created_at.astimezone(timezone(timedelta(hours=1)))
    local = replace(BASE, created_at=paris)
    assert parse(ledger_csv([local], limit_bytes=10_000).data)[1][1] == "2026-03-15T10:04:05Z"


def test_over_the_limit_it_is_zipped_and_unzips_to_the_same_csv() -> None:
    many = rows(2_000)
    plain = ledger_csv(many, limit_bytes=10_000_000, name="usage-100-30d")
    zipped = ledger_csv(many, limit_bytes=len(plain.data) - 1, name="usage-100-30d")
    assert not plain.compressed
    assert zipped.compressed
    assert (zipped.filename, zipped.mime, zipped.rows) == (
        "usage-100-30d.zip",
        "application/zip",
        2_000,
    )
    assert len(zipped.data) < len(plain.data) // 3
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as archive:
        assert archive.namelist() == ["usage-100-30d.csv"]
        assert archive.read("usage-100-30d.csv") == plain.data


def test_exactly_at_the_limit_stays_plain() -> None:
    plain = ledger_csv(rows(10), limit_bytes=10_000_000)
    assert not ledger_csv(rows(10), limit_bytes=len(plain.data)).compressed


def test_writing_in_chunks_gives_the_same_file_as_at_once() -> None:
    many = rows(1_000)
    for limit in (10_000_000, 20_000):
        writer = LedgerCsvWriter(limit_bytes=limit)
        for start in range(0, len(many), 128):
            writer.write_rows(many[start : start + 128])
        chunked = writer.finish()
        whole = ledger_csv(many, limit_bytes=limit)
        assert chunked.compressed == whole.compressed == (limit == 20_000)
        assert _csv_of(chunked) == _csv_of(whole)


def test_an_empty_export_is_just_the_header() -> None:
    export = ledger_csv([], limit_bytes=10_000)
    assert parse(export.data) == [list(COLUMNS)]
    assert export.rows == 0


def test_text_that_a_spreadsheet_would_run_as_a_formula_is_quoted() -> None:
    hostile = replace(BASE, request_id='=HYPERLINK("http://x")', model="+gpt", error_code="@x")
    row = dict(zip(COLUMNS, parse(ledger_csv([hostile], limit_bytes=10_000).data)[1], strict=True))
    assert row["request_id"].startswith("'=")
    assert row["model"] == "'+gpt"
    assert row["error_code"] == "'@x"


def _csv_of(export: ExportFile) -> bytes:
    if not export.compressed:
        return export.data
    with zipfile.ZipFile(io.BytesIO(export.data)) as archive:
        return archive.read(archive.namelist()[0])
