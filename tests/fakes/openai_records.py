"""What the fake Images API records, and its error bodies (scripted, IPM, moderation)."""

from __future__ import annotations

import io
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tests.fakes.openai_rules import ApiError

IPM_WINDOW = 60.0


@dataclass(frozen=True)
class RecordedPart:
    """One multipart part as received: a form field (no filename) or a file."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def text(self) -> str:
        return self.data.decode()

    @property
    def dimensions(self) -> tuple[int, int]:
        with Image.open(io.BytesIO(self.data)) as img:
            return img.size


@dataclass
class RecordedRequest:
    """A request the fake received; the Authorization header is redacted."""

    method: str
    path: str
    headers: dict[str, str]
    authorized: bool
    json: dict[str, Any] | None = None
    parts: list[RecordedPart] = field(default_factory=list)
    raw: bytes = field(default=b"", repr=False)

    @property
    def form(self) -> dict[str, str]:
        return {p.name: p.text for p in self.parts if p.filename is None}

    def files(self, name: str) -> list[RecordedPart]:
        return [p for p in self.parts if p.name == name and p.filename is not None]

    @property
    def params(self) -> dict[str, Any]:
        return self.json if self.json is not None else dict(self.form)


def moderation_error(rid: str, stage: str = "input") -> ApiError:
    """The safety system's refusal, as captured from the real API, with the stage it was
    refused at (`moderation_stage` input|output, seen on Images API errors: openai/codex#46737)."""
    return ApiError(
        400,
        "moderation_blocked",
        "Your request was rejected by the safety system. If you believe this is an error, "
        f"contact us at help.openai.com and include the request ID {rid}. "
        "safety_violations=[sexual].",
        type_="image_generation_user_error",
        extra={"moderation_stage": stage, "categories": ["sexual"]},
    )


def ipm_error(
    accepted: deque[tuple[float, int]], used: int, n: int, ipm: int, now: float
) -> ApiError:
    """429 with a Retry-After long enough for enough accepted images to leave the window."""
    need, wait = used + n - ipm, IPM_WINDOW
    for at, count in accepted:
        need -= count
        if need <= 0:
            wait = at + IPM_WINDOW - now
            break
    return ApiError(
        429,
        "rate_limit_exceeded",
        f"Rate limit reached for images per min (IPM): Limit {ipm}, Used {used}, Requested {n}. "
        f"Please try again in {math.ceil(wait)}s.",
        type_="requests",
        retry_after=max(1, math.ceil(wait)),
    )


# Billing and quota codes of https://developers.openai.com/api/docs/guides/error-codes: "check
# `error.code` ... `error.type` may still be `insufficient_quota`".
_QUOTA = "insufficient_quota"
_SCRIPTED_MESSAGES = {
    "rate_limit_exceeded": ("requests", "Rate limit reached for images per min (IPM)."),
    "insufficient_quota": (
        _QUOTA,
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "credit_balance_exhausted": (_QUOTA, "Your credit balance is exhausted."),
    "organization_spend_limit_exceeded": (_QUOTA, "Your organization's spend limit is reached."),
    "project_spend_limit_exceeded": (_QUOTA, "This project's spend limit is reached."),
    "organization_usage_limit_exceeded": (_QUOTA, "Your organization's usage limit is reached."),
    "billing_hard_limit_reached": ("invalid_request_error", "Billing hard limit has been reached"),
    "model_not_found": ("invalid_request_error", "The model does not exist."),
}
_STATUS_MESSAGES = {
    # Reported as 403 (some say 400), naming the requested model: https://developers.openai.com
    # /api/docs/guides/image-generation ("Organization Verification"), body from public reports.
    403: "Your organization must be verified to use the model `{model}`. Please go to: "
    "https://platform.openai.com/settings/organization/general and click on Verify "
    "Organization. If you just verified, it can take up to 15 minutes for access to propagate.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}


def scripted_error(
    status: int, code: str | None, retry_after: int | None, model: str | None = None
) -> ApiError:
    """A realistic error body for an enqueued failure (`model`: the one the request named)."""
    err_type, message = _SCRIPTED_MESSAGES.get(code or "", ("", ""))
    if not message:
        template = _STATUS_MESSAGES.get(status, f"Scripted failure {status}.")
        message = template.replace("{model}", model or "gpt-image-2")
        err_type = "server_error" if status >= 500 else "invalid_request_error"
    return ApiError(status, code, message, type_=err_type, retry_after=retry_after)


def lone_image_array_error() -> ApiError:
    """A gateway's answer to a single input sent as `image[]` (LiteLLM's error envelope)."""
    return ApiError(
        400,
        "400",
        "litellm.BadRequestError: Invalid 'image': expected a file, got an array. "
        "Received Model Group=gpt-image-2",
        param="image",
    )
