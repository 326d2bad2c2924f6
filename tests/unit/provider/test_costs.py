"""Where each provider reports a call's cost, read into micro-USD and marked by its source."""

from __future__ import annotations

from dataclasses import replace

from bot.domain import ImagesResult, TokenUsage
from bot.provider.costs import JobShape, listed_upper_bound, reported_cost, with_cost
from bot.provider.profiles import load_profile


def result(n: int = 1, size: str = "1024x1024", quality: str = "medium") -> ImagesResult:
    return ImagesResult(
        images=(b"x",) * n, size=size, quality=quality, output_format="png",
        background="opaque", usage=TokenUsage(), request_id=None, latency_ms=1,
        usage_reported=False,
    )  # fmt: skip


def test_lumenfall_reports_metadata_cost_in_the_body() -> None:
    got = with_cost(result(), load_profile("lumenfall", ""), model="gpt-image-2",
                    payload={"metadata": {"cost": 0.0123}}, headers={})  # fmt: skip
    assert got.reported_cost_micro_usd == 12_300
    assert got.cost_basis == "lumenfall: metadata.cost"


def test_litellm_reports_its_cost_in_a_header() -> None:
    got = with_cost(result(), load_profile("litellm", ""), model="gpt-image-1", payload={},
                    headers={"x-litellm-response-cost": "0.042"})  # fmt: skip
    assert got.reported_cost_micro_usd == 42_000


def test_fal_is_priced_per_image_from_its_list_and_unlisted_calls_stay_estimated() -> None:
    fal = load_profile("fal", "")
    got = with_cost(result(n=2, quality="high"), fal, model="gpt-image-1", payload={}, headers={})
    assert got.reported_cost_micro_usd == 340_000  # 2 x $0.167, rounded up to the cent
    assert got.cost_basis == "fal: per-image price"
    wide = with_cost(result(size="1536x1024", quality="low"), fal, model="gpt-image-1",
                     payload={}, headers={})  # fmt: skip
    assert wide.reported_cost_micro_usd == 20_000  # $0.016 -> $0.02
    other = with_cost(result(), fal, model="gpt-image-2", payload={}, headers={})
    assert other.reported_cost_micro_usd is None  # the upper-bound estimate then applies


def test_a_missing_or_unreadable_cost_leaves_the_result_to_usage_or_the_estimate() -> None:
    lumenfall = load_profile("lumenfall", "")
    for payload in ({}, {"metadata": {"cost": "n/a"}}, {"metadata": {"cost": -1}}):
        got = with_cost(result(), lumenfall, model="m", payload=payload, headers={})
        assert got.reported_cost_micro_usd is None
    openai = with_cost(result(), load_profile("openai", ""), model="m", payload={}, headers={})
    assert openai.cost_basis is None


def test_a_zero_reported_cost_is_no_measurement_and_the_estimate_stands() -> None:
    # LiteLLM sends 0 for a model it has no price for: charging $0 would never spend a budget.
    litellm = load_profile("litellm", "")
    for zero in ("0", "0.0", "0.000000"):
        got = with_cost(result(), litellm, model="gpt-image-1", payload={},
                        headers={"x-litellm-response-cost": zero})  # fmt: skip
        assert got.reported_cost_micro_usd is None


def test_fal_adds_the_lists_input_tokens_and_rounds_each_request_up_to_the_cent() -> None:
    # https://fal.ai/models/fal-ai/gpt-image-1/edit-image/llms.txt: $0.002 per 1,000 text tokens,
    # $0.005 per 1,000 image tokens (3,050 for a high-fidelity 1024x1024 input), "rounded up to
    # the nearest cent".
    fal = load_profile("fal", "")
    low = result(quality="low")
    plain = with_cost(low, fal, model="gpt-image-1", payload={}, headers={}, inputs=(100, 0))
    assert plain.reported_cost_micro_usd == 20_000  # $0.011 + $0.0002 -> $0.02
    edit = with_cost(low, fal, model="gpt-image-1", payload={}, headers={}, inputs=(100, 2))
    assert edit.reported_cost_micro_usd == 50_000  # $0.011 + $0.0002 + 2 x $0.01525 -> $0.05


def test_the_list_bound_covers_every_request_of_a_split_job() -> None:
    fal = load_profile("fal", "")
    four = JobShape(model="gpt-image-1", size="1024x1024", quality="low", n=4, text_tokens=50,
                    input_images=0, requests=4)  # fmt: skip
    bound = listed_upper_bound(fal, four)
    one = with_cost(result(quality="low"), fal, model="gpt-image-1", payload={}, headers={},
                    inputs=(50, 0)).reported_cost_micro_usd  # fmt: skip
    assert one == 20_000
    assert bound is not None and bound >= 4 * one
    unlisted = replace(four, model="gpt-image-2", n=1, requests=1)
    assert listed_upper_bound(fal, unlisted) is None


def test_a_reported_cost_is_read_from_an_answer_whose_images_cannot_be_used() -> None:
    lumenfall, litellm, fal = (load_profile(n, "") for n in ("lumenfall", "litellm", "fal"))
    body = b'{"data": [{"url": "https://elsewhere.example/x.png"}], "metadata": {"cost": 0.02}}'
    assert reported_cost(lumenfall, body, {}) == (20_000, "lumenfall: metadata.cost")
    assert reported_cost(lumenfall, b"not json", {}) is None  # nothing reported: in doubt
    header = {"x-litellm-response-cost": "0.05"}
    assert reported_cost(litellm, b"", header) == (
        50_000,
        "litellm: x-litellm-response-cost header",
    )
    assert reported_cost(fal, b'{"images": []}', {}) is None  # a price list is not a report
