"""Translation of Images API failures into bot/errors.py classes, by what the provider surely did.

Every failed call falls in one of three fates (README, "When an answer is lost"):

| what happened                                                  | fate       | retried     |
|----------------------------------------------------------------|------------|-------------|
| connect failure or timeout, pool timeout, write failure         | not_sent   | yes         |
| the provider's own JSON error envelope, status 4xx or 500/503   | answered   | 500/503 only|
| any 4xx, also a proxy's own page (it refused before forwarding) | answered   | 429 by queue|
| read timeout, connection dropped after the body went out        | in_doubt   | never       |
| 502, 504, 524 (a gateway lost the answer), JSON or not          | in_doubt   | never       |
| any other 5xx whose body is not the provider's JSON envelope    | in_doubt   | never       |
| a 2xx body that cannot be read (not JSON, no image, cut short)  | in_doubt   | never       |
| a streamed `error` event before any partial image               | answered   | as its code |
| a streamed `error` event or a cut stream after a partial image  | in_doubt   | never       |

"answered" calls are not billed; "in_doubt" ones may have been (AnswerLostError, maybe_billed).
A partial image means the provider had already drawn (and billed output tokens for) a preview
and may have drawn more, so no error after it can say "nothing was done".
Sources: docs/sources.md#images-errors; docs/sources.md#provider-errors (lenient parsing, HTML
pages from load balancers), public reports of proxies' 502/504/524 pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from bot.errors import (
    AnswerLostError,
    AuthenticationError,
    BillingLimitError,
    InputRejectedError,
    InvalidRequestError,
    ModelUnavailableError,
    PromptRejectedError,
    RateLimitedError,
    ResultUnfetchedError,
    UpstreamError,
    UpstreamUnavailableError,
)

MAX_UPSTREAM_MESSAGE = 300
# Retried only when the provider itself answered them with its JSON error envelope.
RETRYABLE_STATUSES = frozenset({500, 503})
# A gateway (nginx, Cloudflare, a hosted router) answered for an upstream that may have worked.
GATEWAY_STATUSES = frozenset({502, 504, 524})
REFUSAL_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
BILLING_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "credit_balance_exhausted",
    }
)
BILLING_SUFFIXES = ("_spend_limit_exceeded", "_usage_limit_exceeded")
AUTH_CODES = frozenset({"invalid_api_key", "invalid_organization", "unsupported_country_region"})

_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-*]{3,}|Bearer\s+\S+)")
# "Invalid image file or mode for image 1, please check your image file." (invalid_image_file)
_FOR_IMAGE = re.compile(r"\bfor image (\d+)\b", re.IGNORECASE)

TranslatedError = UpstreamError | PromptRejectedError
Fate = Literal["not_sent", "answered", "in_doubt"]


class ConnectFailedError(UpstreamUnavailableError):
    """The request never reached the server (connect failed): the only transport error retried."""


def redact(text: str) -> str:
    """Shorten an upstream message for logs and strip anything that looks like a key."""
    text = _SECRET.sub("[redacted]", " ".join(text.split()))
    if len(text) > MAX_UPSTREAM_MESSAGE:
        return text[: MAX_UPSTREAM_MESSAGE - 1] + "…"
    return text


def _error_fields(body: bytes) -> dict[str, str | None]:
    """The `error` envelope's message/type/param/code; empty when the body is not one.

    Lenient as docs/sources.md#provider-errors advises: a list holding the envelope (Gemini)
    and a string `error` count too; an HTML page or any other JSON does not.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, str) and err:
        return {"message": err, "type": None, "param": None, "code": None}
    if not isinstance(err, dict):
        return {}
    return {k: (str(err[k]) if err.get(k) is not None else None) for k in _FIELDS}


def _moderation_stage(body: bytes) -> str:
    """Where a refusal happened: `moderation_stage` in the error (seen on Images API errors,
    https://github.com/openai/codex/issues/46737) or in `moderation_details` (the Responses
    tool's shape in the openai SDK); "unknown" when neither says."""
    try:
        err = json.loads(body).get("error")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return "unknown"
    if not isinstance(err, dict):
        return "unknown"
    details = err.get("moderation_details")
    stage = err.get("moderation_stage") or (
        details.get("moderation_stage") if isinstance(details, dict) else None
    )
    return stage if stage in ("input", "output") else "unknown"


def fate(error: TranslatedError) -> Fate:
    """What the provider surely did with a failed call (see the module's table)."""
    if isinstance(error, ConnectFailedError):
        return "not_sent"
    if isinstance(error, UpstreamError) and error.maybe_billed:
        return "in_doubt"
    return "answered"


_FIELDS = ("message", "type", "param", "code")


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # Measure against the server's own Date header when present, so clock skew cancels out.
    now = _server_now(headers) or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _server_now(headers: httpx.Headers) -> datetime | None:
    date = headers.get("date")
    if date is None:
        return None
    try:
        now = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _is_billing(code: str | None, err_type: str | None) -> bool:
    if code in BILLING_CODES or err_type == "insufficient_quota":
        return True
    return code is not None and code.endswith(BILLING_SUFFIXES)


def _is_auth(status: int | None, code: str | None, message: str) -> bool:
    if status in (401, 403) or code in AUTH_CODES:
        return True
    # Organisation verification has been reported as a 400 as well as a 403.
    return "must be verified" in message.lower()


def _auth_cause(status: int | None, code: str | None, message: str) -> str:
    if "must be verified" in message.lower():
        return "organization_not_verified"
    if code == "unsupported_country_region":
        return "region"
    if status == 401 or code in ("invalid_api_key", "invalid_organization"):
        return "key_refused"
    return "access_denied"


# An account-level block worded by the provider (Azure: "Your resource has been temporarily
# blocked"; OpenAI: account_deactivated), reported to members as "flagged" by other bots
# (https://github.com/pollinations/pollinations/issues/12446).
BLOCK_CODES = frozenset({"account_deactivated", "access_terminated", "account_blocked"})


def _is_blocked(status: int | None, code: str | None, message: str) -> bool:
    if code in BLOCK_CODES:
        return True
    lowered = message.lower()
    return status in (401, 403) and (
        "has been blocked" in lowered or "temporarily blocked" in lowered
    )


def _is_model_gone(status: int | None, code: str | None, param: str | None, message: str) -> bool:
    if status == 404 or code == "model_not_found" or param == "model":
        return True
    lowered = message.lower()
    return "model" in lowered and ("does not exist" in lowered or "deprecated" in lowered)


def translate_error(
    status: int | None,
    body: bytes,
    headers: httpx.Headers,
    *,
    model: str,
    request_id: str | None,
) -> TranslatedError:
    """Map one failed HTTP response (or a streamed `error` event, status None) to our errors."""
    fields = _error_fields(body)
    if status is not None and (status in GATEWAY_STATUSES or (status >= 500 and not fields)):
        return _gateway_error(status, body, fields, request_id)
    code, err_type, param = fields.get("code"), fields.get("type"), fields.get("param")
    upstream = redact(fields.get("message") or body.decode("utf-8", "replace"))
    label = f"images API {status or 'stream'} {code or err_type or 'error'}"
    message = f"{label}: {upstream}" if upstream else label
    rid = request_id
    if _is_blocked(status, code, upstream):  # before refusals: a block is not the member's fault
        return AuthenticationError(message, cause="blocked", words=upstream, status=status,
                                   code=code, request_id=rid)  # fmt: skip
    if code in REFUSAL_CODES:
        return PromptRejectedError(request_id, stage=_moderation_stage(body))
    if _is_billing(code, err_type):
        return BillingLimitError(message, cause="no_credit", words=upstream, status=status,
                                 code=code, request_id=rid)  # fmt: skip
    if status == 429 or code == "rate_limit_exceeded":
        retry_after = parse_retry_after(headers)
        return RateLimitedError(
            message, retry_after=retry_after, status=status or 429, code=code, request_id=rid
        )
    if _is_auth(status, code, upstream):
        cause = _auth_cause(status, code, upstream)
        return AuthenticationError(message, cause=cause, words=upstream, status=status,
                                   code=code, request_id=rid)  # fmt: skip
    if _is_model_gone(status, code, param, upstream):
        return ModelUnavailableError(message, model=model, status=status, code=code, request_id=rid)
    client_error = status is not None and 400 <= status < 500
    if client_error or (status is None and err_type == "invalid_request_error"):
        return InvalidRequestError(message, param=param, status=status, code=code, request_id=rid)
    return UpstreamUnavailableError(message, status=status, code=code, request_id=rid)


def translate_stream_error(
    error: object, *, partials: int, model: str, request_id: str | None
) -> TranslatedError:
    """A streamed `error` event's `error` object, after `partials` partial images.

    Before any partial image it is the provider's answer (translate_error, not billed). After
    one, the provider had drawn and streamed a preview (about 100 output tokens each) and may
    have drawn more, so the call is in doubt (AnswerLostError) whatever the event's code.
    """
    body = json.dumps({"error": error}).encode()
    answered = translate_error(None, body, httpx.Headers(), model=model, request_id=request_id)
    if partials == 0:
        return answered
    code = _error_fields(body).get("code") or "stream_error"
    shown = "a preview" if partials == 1 else f"{partials} previews"
    return AnswerLostError(
        f"images API stream error after {partials} partial image(s): {answered}",
        reason=f"the image service stopped with an error after it had sent {shown}",
        code=code,
        request_id=request_id,
    )


def name_input(error: TranslatedError, names: Sequence[str]) -> TranslatedError:
    """A 4xx about one input ("... for image N") as InputRejectedError naming the member's file.

    `names` are the request's input file names in the order they were sent; N counts from 1.
    Any other error comes back unchanged.
    """
    if not isinstance(error, InvalidRequestError) or isinstance(error, InputRejectedError):
        return error
    match = _FOR_IMAGE.search(str(error))
    if match is None or not 1 <= int(match[1]) <= max(1, len(names)):
        return error
    index = int(match[1])
    filename = names[index - 1] if index <= len(names) else ""
    return InputRejectedError(
        str(error),
        index=index,
        filename=filename,
        status=error.status,
        code=error.code,
        request_id=error.request_id,
    )


def _gateway_error(
    status: int, body: bytes, fields: dict[str, str | None], request_id: str | None
) -> AnswerLostError:
    """A 502/504/524, or a 5xx page that is not the provider's own: the answer is lost."""
    shown = redact(fields.get("message") or _page_title(body))
    message = f"images API {status} from a gateway, answer lost" + (f": {shown}" if shown else "")
    return AnswerLostError(
        message,
        reason=f"a gateway in front of the image service answered {status} instead of the result",
        status=status,
        code=f"gateway_{status}",
        request_id=request_id,
    )


_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _page_title(body: bytes) -> str:
    """An HTML error page's <title> ("504 Gateway Time-out"), else the body's start."""
    found = _TITLE.search(body[:4096])
    text = found.group(1) if found else body[:200]
    return text.decode("utf-8", "replace")


def translate_transport_error(
    exc: Exception, *, read_timeout: float | None = None
) -> UpstreamUnavailableError:
    """An httpx failure without a usable response, classified by whether the request went out.

    Connect and pool failures never carried the request, and a write failure never carried all
    of it, so the provider did no work (ConnectFailedError: retried). Any failure after the body
    went out (read timeout, dropped connection, a body cut short) is in doubt. `read_timeout`
    (seconds) names the wait in the member's message.
    """
    detail = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, _NOT_SENT):
        return ConnectFailedError(f"could not send to the images API: {detail}")
    if isinstance(exc, httpx.LocalProtocolError | httpx.InvalidURL | httpx.UnsupportedProtocol):
        return UpstreamUnavailableError(f"the images API request could not be sent: {detail}")
    if isinstance(exc, httpx.ReadTimeout):
        waited = f" within {_minutes(read_timeout)}" if read_timeout else " in time"
        return AnswerLostError(
            f"the images API timed out after the request was sent ({type(exc).__name__})",
            reason=f"the image service did not answer{waited}",
            code="read_timeout",
        )
    return AnswerLostError(
        f"the images API connection failed after the request was sent: {detail}",
        reason="the connection to the image service dropped after the request was sent",
        code="connection_lost",
    )


_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes >= 1:
        return f"{minutes} minute" + ("s" if minutes != 1 else "")
    return f"{max(1, round(seconds))} s"


def malformed(
    what: str,
    *,
    status: int | None,
    request_id: str | None,
    reported: tuple[int, str] | None = None,
    made: bool = False,
) -> UpstreamError:
    """A 2xx response we cannot use (bad JSON, no image data, cut short): in doubt; or, when
    its body or headers `reported` the call's cost (micro-USD, source), made and charged that.
    `made`: the provider said it made the images (fal's COMPLETED) and only fetching them
    failed: charged `reported` as its list price, else the estimate marked estimated."""
    if reported is not None or made:
        cost, basis = reported if reported is not None else (None, None)
        how = "at the service's list price" if made else "as the service reported"
        return ResultUnfetchedError(f"image not fetched: {what}", cost_micro_usd=cost,
                                    cost_basis=basis, status=status, request_id=request_id,
                                    how=how)  # fmt: skip
    return AnswerLostError(
        f"malformed images API response: {what}",
        reason="the image service's answer could not be read",
        status=status,
        code="unreadable_answer",
        request_id=request_id,
    )


def is_retryable(error: TranslatedError) -> bool:
    """Only calls the provider surely did not work on: never sent, or its own JSON 500/503."""
    if fate(error) == "not_sent":
        return True
    if fate(error) == "in_doubt":
        return False
    return isinstance(error, UpstreamUnavailableError) and error.status in RETRYABLE_STATUSES
