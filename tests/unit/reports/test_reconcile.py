"""Reconciliation: the pure comparison rule, and the organization client against the fake."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bot.db import open_database
from bot.domain import TokenUsage
from bot.errors import AuthenticationError
from bot.provider.images import build_http_client
from bot.provider.organization import CostLine, ImagesUsage, OrganizationClient
from bot.reports.reconcile import canonical_model, reconcile, render
from bot.store.ledger import ApiCall, insert_api_call
from bot.store.reconcile import LedgerDay, ledger_days
from tests.fakes.openai_server import FakeOpenAI

DAY = date(2026, 11, 28)
KNOWN = ("gpt-image-1", "gpt-image-2", "gpt-image-2.5-flare")


def usage(model: str = "gpt-image-2", images: int = 2, requests: int = 1) -> ImagesUsage:
    return ImagesUsage(DAY, model, "1024x1024", "image.generation", images, requests)


def cost(usd: str, item: str = "gpt-image-2 image, output") -> CostLine:
    return CostLine(DAY, item, Decimal(usd))


def ledger(images: int = 2, requests: int = 1, micro: int = 80_000, **doubt: int) -> LedgerDay:
    return LedgerDay(DAY, "gpt-image-2", requests, images, micro, **doubt)


def test_agreeing_records_pass() -> None:
    costs = [cost("0.05"), cost("0.03", "gpt-image-2 text, input")]
    result = reconcile([ledger()], [usage()], costs, known=KNOWN)
    assert result.agrees
    [line] = result.lines
    assert (line.provider.images, line.provider.requests, line.provider.micro_usd) == (2, 1, 80_000)


def test_images_the_ledger_lacks_are_named_by_day_and_model() -> None:
    result = reconcile([ledger()], [usage(images=5, requests=2)], [cost("0.08")], known=KNOWN)
    assert not result.agrees
    assert result.lines[0].problems == (
        "images: provider 5, ledger 2",
        "requests: provider 2, ledger 1",
    )
    text = "\n".join(render(result))
    assert "differs: 2026-11-28 gpt-image-2: images: provider 5, ledger 2" in text
    assert "other apps using the same organization or project" in text


@pytest.mark.parametrize(
    ("images", "requests", "usd", "agrees"),
    [(2, 1, "0.08", True), (3, 2, "0.20", True), (4, 2, "0.20", False), (3, 2, "0.25", False)],
    ids=["not-billed", "billed", "more-images-than-asked", "more-usd-than-reserved"],
)
def test_in_doubt_calls_widen_the_range_the_provider_may_fall_in(
    images: int, requests: int, usd: str, agrees: bool
) -> None:
    mine = ledger(doubt_requests=1, doubt_images=1, doubt_micro_usd=120_000)
    result = reconcile([mine], [usage(images=images, requests=requests)], [cost(usd)], known=KNOWN)
    assert result.agrees is agrees
    assert "1 req, 1 img, $0.1200" in "\n".join(render(result))


@pytest.mark.parametrize(
    ("usd", "agrees"), [("0.08", True), ("0.0301", True), ("0.0299", False), ("0.0901", False)]
)
def test_estimated_costs_are_upper_bounds(usd: str, agrees: bool) -> None:
    # 40,000 of the 80,000 micro-USD were charged at the estimate (the answer had no usage):
    # the provider may have billed 40,000 to 80,000, give or take the $0.01 floor.
    result = reconcile([ledger(estimated_micro_usd=40_000)], [usage()], [cost(usd)], known=KNOWN)
    assert result.agrees is agrees
    assert "$0.0400 estimated" in "\n".join(render(result))


@pytest.mark.parametrize(
    ("usd", "agrees"),
    [("1.0099", True), ("0.9901", True), ("1.0101", False), ("0.9899", False)],
)
def test_usd_within_one_percent_agrees(usd: str, agrees: bool) -> None:
    result = reconcile([ledger(micro=1_000_000)], [usage()], [cost(usd)], known=KNOWN)
    assert result.agrees is agrees


def test_small_days_get_a_one_cent_floor() -> None:
    result = reconcile([ledger(micro=6_000)], [usage()], [cost("0.0159")], known=KNOWN)
    assert result.agrees
    result = reconcile([ledger(micro=6_000)], [usage()], [cost("0.0161")], known=KNOWN)
    assert not result.agrees


def test_dated_snapshots_match_their_model_and_other_products_are_left_aside() -> None:
    costs = [
        cost("0.08", "gpt-image-2-2026-04-21 image, output"),
        cost("1.50", "gpt-5.5 input"),
    ]
    result = reconcile([ledger()], [usage("gpt-image-2-2026-04-21")], costs, known=KNOWN)
    assert result.agrees
    assert result.other_micro_usd == 1_500_000
    assert "not compared: $1.5000 on other line items (gpt-5.5 input)" in render(result)
    assert canonical_model("gpt-image-9-2030-01-01", KNOWN) == "gpt-image-9-2030-01-01"


def test_an_image_model_only_the_provider_knows_differs() -> None:
    costs = [cost("0.08"), cost("0.04", "dall-e-3 image, output")]
    result = reconcile([ledger()], [usage(), usage("dall-e-3", 1)], costs, known=KNOWN)
    assert [line.ledger.model for line in result.lines if line.problems] == ["dall-e-3"]


def test_an_empty_images_usage_compares_usd_only_and_says_so() -> None:
    result = reconcile([ledger()], [], [cost("0.08")], known=KNOWN)
    assert result.agrees and not result.usage_reported
    text = "\n".join(render(result))
    assert "only USD is compared" in text and "2/?" in text


# ---- the client against the fake's admin endpoints -------------------------------------------


def _client(fake: FakeOpenAI, key: str) -> httpx.AsyncClient:
    return build_http_client(base_url=fake.base_url, api_key=key, organization=None, project=None)


async def test_the_client_follows_pages_and_filters_by_project(fake_openai: FakeOpenAI) -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    for back in range(5):
        at = (now - timedelta(days=back)).timestamp()
        fake_openai.add_org_usage("gpt-image-2", back + 1, at=at, project="proj_bot")
    fake_openai.add_org_usage("gpt-image-2", 50, at=now.timestamp(), project="proj_other")
    start, end = now.replace(hour=0) - timedelta(days=4), now + timedelta(hours=1)
    async with _client(fake_openai, fake_openai.admin_key) as http:
        client = OrganizationClient(http)
        rows = await client.images_usage(start, end, project="proj_bot", page_limit=2)
        costs = await client.costs(start, end, project="proj_bot", page_limit=2)
    assert sorted((r.day.day, r.images) for r in rows) == [(25, 5), (26, 4), (27, 3), (28, 2),
                                                          (29, 1)]  # fmt: skip
    assert {r.source for r in rows} == {"image.generation"} and {r.size for r in rows} == {
        "1024x1024"
    }
    pages = [r for r in fake_openai.requests if r.path.endswith("/usage/images")]
    assert len(pages) == 3  # 5 daily buckets, 2 per page
    assert {c.line_item for c in costs} == {"gpt-image-2 text, input", "gpt-image-2 image, output"}
    assert all(isinstance(c.amount_usd, Decimal) and c.amount_usd > 0 for c in costs)


@pytest.mark.parametrize(("key", "status"), [("sk-test", 403), ("sk-nope", 401)])
async def test_keys_without_the_usage_scope_are_refused(
    fake_openai: FakeOpenAI, key: str, status: int
) -> None:
    now = datetime.now(UTC)
    async with _client(fake_openai, key) as http:
        with pytest.raises(AuthenticationError) as caught:
            await OrganizationClient(http).costs(now - timedelta(days=1), now, project=None)
    assert caught.value.status == status
    assert "the admin key was refused" in str(caught.value)
    assert key not in str(caught.value)


# ---- the ledger side ------------------------------------------------------------------------


async def test_ledger_days_separate_answered_refused_and_in_doubt_calls(
    db_target: Path | str,
) -> None:
    at = datetime(2026, 11, 28, 23, 59, tzinfo=UTC)

    def call(**kw: object) -> ApiCall:
        base: dict[str, object] = {
            "guild_id": 1, "channel_id": 2, "user_id": 3, "job_id": None,
            "model": "gpt-image-2", "operation": "generate", "n": 2, "size": "1024x1024",
            "quality": "low", "usage": TokenUsage(), "cost_micro_usd": 0,
            "price_version": "v", "latency_ms": 1, "created_at": at,
        }  # fmt: skip
        return ApiCall(**{**base, **kw})  # type: ignore[arg-type]

    async with open_database(db_target) as db:
        async with db.transaction() as conn:
            await insert_api_call(conn, call(images=2, cost_micro_usd=12_000, http_status=200))
            await insert_api_call(conn, call(http_status=400, error_code="moderation_blocked"))
            await insert_api_call(conn, call(http_status=429, error_code="rate_limit_exceeded"))
            await insert_api_call(conn, call(error_code="ReadTimeout", cost_micro_usd=20_000,
                                             billing="in_doubt"))  # fmt: skip
            await insert_api_call(conn, call(images=2, cost_micro_usd=30_000, http_status=200,
                                             billing="estimated"))  # fmt: skip
            await insert_api_call(
                conn, call(images=1, cost_micro_usd=9, created_at=at + timedelta(minutes=2))
            )
        rows = await ledger_days(db, at - timedelta(days=1), at + timedelta(days=1))
    assert rows == [
        LedgerDay(DAY, "gpt-image-2", 2, 4, 42_000, doubt_requests=1, doubt_images=2,
                  doubt_micro_usd=20_000, estimated_micro_usd=30_000),
        LedgerDay(DAY + timedelta(days=1), "gpt-image-2", 1, 1, 9),
    ]  # fmt: skip
