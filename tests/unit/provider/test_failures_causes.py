"""Account-level causes and refusal stages read from the provider's error bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.errors import AccountProblemError, PromptRejectedError
from bot.provider.failures import translate_error


def _translate(status: int, **error: Any) -> object:
    body = json.dumps({"error": {"message": "m", "type": "t", "param": None, **error}}).encode()
    return translate_error(status, body, httpx.Headers(), model="gpt-image-2", request_id="r")


KEY = "Incorrect API key provided: sk-abc***"
VERIFY = "Your organization must be verified to use the model"
QUOTA = "You exceeded your current quota"
BLOCK = "Your resource has been temporarily blocked"


@pytest.mark.parametrize(
    ("status", "error", "cause"),
    [
        (401, {"code": "invalid_api_key", "message": KEY}, "key_refused"),
        (403, {"code": None, "message": VERIFY}, "organization_not_verified"),
        (429, {"code": "insufficient_quota", "message": QUOTA}, "no_credit"),
        (403, {"code": None, "message": BLOCK}, "blocked"),
        (403, {"code": "unsupported_country_region", "message": "m"}, "region"),
    ],
)
def test_account_causes_keep_the_providers_words_without_secrets(
    status: int, error: dict[str, Any], cause: str
) -> None:
    found = _translate(status, **error)
    assert isinstance(found, AccountProblemError) and found.cause == cause
    assert found.words.split(":")[0] == error["message"].split(":")[0]
    assert "sk-abc" not in found.words


@pytest.mark.parametrize(
    ("extra", "stage"),
    [
        ({"moderation_stage": "input"}, "input"),
        ({"moderation_stage": "output"}, "output"),
        ({"moderation_details": {"moderation_stage": "output", "categories": []}}, "output"),
        ({}, "unknown"),
        ({"moderation_stage": "elsewhere"}, "unknown"),
    ],
)
def test_a_refusal_says_its_stage(extra: dict[str, Any], stage: str) -> None:
    found = _translate(400, code="moderation_blocked", **extra)
    assert isinstance(found, PromptRejectedError) and found.stage == stage
