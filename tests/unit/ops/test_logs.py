"""LOG_FORMAT: JSON lines with stable fields, text in UTC, and no secret in either."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import ImageOptions
from bot.jobs.events import JobEvent
from bot.ops.job_log import JobObserver
from bot.ops.logs import configure_logging
from bot.ops.metrics import Metrics
from bot.records import JobRecord

START = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
SECRET = "sk-proj-verysecretkey123"
TOKEN = "MTIzNDU2.discord-bot-token"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _capture(fmt: str) -> io.StringIO:
    stream = io.StringIO()
    configure_logging("INFO", fmt, [SECRET, TOKEN], stream=stream)
    return stream


def _job(**changes: object) -> JobRecord:
    created = START
    fields: dict[str, object] = {
        "id": 42,
        "guild_id": 1001,
        "channel_id": 2002,
        "user_id": 3003,
        "operation": "generate",
        "prompt": "a fox",
        "options": ImageOptions(model="gpt-image-2", size="1024x1024", quality="low", n=1),
        "state": "succeeded",
        "charged_micro_usd": 11_000,
        "charged_images": 1,
        "estimated_micro_usd": 12_000,
        "estimated_tokens": 300,
        "created_at": created,
        "finished_at": created + timedelta(seconds=3.5),
    }
    fields.update(changes)
    return JobRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_stable_fields_and_utc_time() -> None:
    stream = _capture("json")
    logging.getLogger("bot.test").warning("queue %s is full", "fast", extra={"guild": 7})
    line = json.loads(stream.getvalue())
    assert line["level"] == "WARNING"
    assert line["logger"] == "bot.test"
    assert line["message"] == "queue fast is full"
    assert line["guild"] == 7
    assert line["time"].endswith("+00:00")
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


@pytest.mark.usefixtures("restore_root")
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_reach_the_output(fmt: str) -> None:
    stream = _capture(fmt)
    log = logging.getLogger("bot.test")
    log.info("calling with key %s and token %s", SECRET, TOKEN)
    log.info("POST https://discord.com/api/v10/interactions/123/aW50ZXJhY3Rpb246MTIz/callback")
    log.info("header Authorization: Bearer sk-another-unconfigured-key")
    event = {"t": "INTERACTION_CREATE", "d": {"token": "aW50ZXJhY3Rpb246NDU2"}}
    log.info("WebSocket Event: %s", event)  # as discord.py's gateway logs it (at DEBUG)
    try:
        raise RuntimeError(f"refused: {SECRET}")
    except RuntimeError:
        log.exception("the call failed")
    out = stream.getvalue()
    for secret in (
        SECRET,
        TOKEN,
        "aW50ZXJhY3Rpb246MTIz",
        "aW50ZXJhY3Rpb246NDU2",
        "sk-another-unconfigured-key",
    ):
        assert secret not in out
    assert out.count("[redacted]") >= 6
    assert "RuntimeError" in out, "the traceback is kept, redacted"
    if fmt == "json":
        assert all(json.loads(line) for line in out.splitlines() if line.startswith("{"))


@pytest.mark.usefixtures("restore_root")
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_one_line_per_finished_job(fmt: str) -> None:
    stream = _capture(fmt)
    observer = JobObserver(Metrics(), since=START)
    observer(JobEvent("queued", _job(state="queued", finished_at=None)))
    observer(JobEvent("started", _job(state="running", finished_at=None)))
    observer(JobEvent("succeeded", _job()))
    earlier = START - timedelta(hours=1)  # announced again at start-up: logged back then
    observer(JobEvent("succeeded", _job(id=41, created_at=earlier, finished_at=earlier)))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    if fmt == "json":
        line = json.loads(lines[0])
        assert {k: line[k] for k in ("job", "guild", "user", "model", "outcome")} == {
            "job": "42",
            "guild": "1001",
            "user": "3003",
            "model": "gpt-image-2",
            "outcome": "succeeded",
        }
        assert line["cost_usd"] == pytest.approx(0.011)
        assert line["seconds"] == pytest.approx(3.5)
    else:
        for part in ("job 42 succeeded", "guild=1001", "model=gpt-image-2", "0.011", "3.5"):
            assert part in lines[0]


@pytest.mark.usefixtures("restore_root")
def test_json_ids_are_strings_so_snowflakes_survive_javascript() -> None:
    stream = _capture("json")
    snowflake = 1_234_567_890_123_456_789  # above 2**53: a JavaScript number would round it
    JobObserver(Metrics(), since=START)(
        JobEvent("succeeded", _job(guild_id=snowflake, user_id=snowflake + 1))
    )
    line = json.loads(stream.getvalue())
    assert line["guild"] == "1234567890123456789"
    assert line["user"] == "1234567890123456790"
    assert line["job"] == "42"
