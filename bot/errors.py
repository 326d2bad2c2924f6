"""The project's one error tree; user-facing errors carry the fields their reply needs.

BotError
├── ConfigError                 (variable, reason)           bad settings; stops start-up
├── MigrationError              (filename, reason)           a migration failed and was rolled back
├── CatalogError                (reason)                     the model catalog is malformed
├── UnreachableError            (service, address, reason)   no connection at start-up (network)
├── UserFacingError                                          safe to show the member
│   ├── InvalidOptionError      (option, reason)             a bad option value (size, count...)
│   ├── InvalidImageError       (filename, reason)           an attachment we cannot use
│   ├── ModelNotAllowedError    (model, allowed)             not in the catalog or the guild's list
│   ├── ModelRetiredError       (model, shutdown, replacement)
│   ├── ModelNotOfferedError    (model, available)           the provider's /models lacks it
│   ├── QuotaExceededError      (limit, unit, used, allowed, requested, resets_at)
│   ├── QueueFullError          (scope, limit)
│   ├── PermissionDeniedError   (action)
│   ├── GuildNotServedError     (guild_id)                   GUILDS does not serve this guild
│   ├── GuildPausedError                                     /config set paused: new jobs refused
│   ├── JobNotFoundError        (job_id)
│   ├── JobNotCancellableError  (job_id, state)
│   ├── PromptRejectedError     (request_id)                 the safety system refused it
│   └── BatchNotRunError        (status)                     a relaxed batch ended without it
│   └── RelaxedNotOfferedError  (provider)                   queued relaxed; provider now lacks it
│   ├── SafetyRefusalError      (cooldown_until)             refused at admission (counts)
│   │   ├── BlockedPhraseError  (phrase)                     the prompt holds a blocklisted word
│   │   └── ScreeningFlaggedError (categories, source)       the moderation endpoint flagged it
│   ├── ScreeningUnavailableError                            screening is on and could not run
│   │   └── ScreeningUnsupportedError (reason)               the provider cannot screen at all
│   └── CooledDownError         (until, refusals)            too many refusals lately
└── UpstreamError               (status, code, request_id)   the OpenAI API failed; operator-facing
    ├── RateLimitedError        (retry_after)                429 rate_limit_exceeded: retryable
    ├── BillingLimitError                                    billing or spend limits: no retry
    ├── AuthenticationError                                  bad key, unverified organisation
    ├── ModelUnavailableError   (model)                      model not found or retired upstream
    ├── InvalidRequestError     (param)                      a 4xx we did not expect
    │   └── InputRejectedError  (index, filename)            the API refused one input image
    └── UpstreamUnavailableError                             5xx, timeouts, dropped connections
        └── AnswerLostError     (reason)                     answer lost once sent: in doubt
            └── ResultUnfetchedError (cost)                  made, its image not fetched
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

QuotaUnit = Literal["usd", "images"]


class BotError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(BotError):
    """A setting is missing or invalid; `variable` names the environment variable."""

    def __init__(self, variable: str, reason: str, *, quoted: bool = False) -> None:
        self.variable = variable
        self.reason = reason
        self.quoted = quoted  # the reason is another message (a profile's), not a predicate
        super().__init__(f"{variable}: {reason}")

    @property
    def line(self) -> str:
        """The start-up line's words: "DISCORD_TOKEN was refused by Discord", or, for a quoted
        reason, "PROVIDER: unknown provider 'bogus'"."""
        return f"{self.variable}{': ' if self.quoted else ' '}{self.reason}"


class MigrationError(BotError):
    """A migration file failed; the database stays at the previous version."""

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(f"migration {filename} failed: {reason}")


class CatalogError(BotError):
    """The model catalog (shipped or MODEL_CATALOG) is malformed."""


class UnreachableError(BotError):
    """A service the bot needs could not be reached at start-up (DNS, firewall, no network)."""

    def __init__(self, service: str, address: str, reason: str) -> None:
        self.service = service
        self.address = address
        self.reason = reason
        super().__init__(
            f"cannot reach {service} at {address} ({reason}): check the network, DNS and firewall"
        )


class UserFacingError(BotError):
    """An error whose message is written for the member and safe to show them."""


class InvalidOptionError(UserFacingError):
    """An option value the model or the guild does not accept."""

    def __init__(self, option: str, reason: str) -> None:
        self.option = option
        self.reason = reason
        super().__init__(f"`{option}`: {reason}")


class InvalidImageError(UserFacingError):
    """An attachment that is not an image we can send to the API."""

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(f"{filename}: {reason}")


class ModelNotAllowedError(UserFacingError):
    """The model is unknown, or not allowed in this guild."""

    def __init__(self, model: str, allowed: tuple[str, ...]) -> None:
        self.model = model
        self.allowed = allowed
        choices = ", ".join(allowed)
        super().__init__(f"model {model!r} is not available here; choose one of {choices}")


class ModelRetiredError(UserFacingError):
    """The model is past its shutdown date."""

    def __init__(self, model: str, shutdown: str, replacement: str | None) -> None:
        self.model = model
        self.shutdown = shutdown
        self.replacement = replacement
        hint = f"; use {replacement} instead" if replacement else ""
        super().__init__(f"{model} was retired on {shutdown}{hint}")


class ModelNotOfferedError(UserFacingError):
    """The provider's GET /models does not list the model for this key."""

    def __init__(self, model: str, available: tuple[str, ...]) -> None:
        self.model = model
        self.available = available
        super().__init__(f"the image service does not offer {model} to this bot's API key")


class QuotaExceededError(UserFacingError):
    """A budget or quota would be exceeded. Amounts are micro-USD for `usd`, counts for `images`."""

    def __init__(
        self,
        *,
        limit: str,
        unit: QuotaUnit,
        used: int,
        allowed: int,
        requested: int,
        resets_at: datetime,
    ) -> None:
        self.limit = limit
        self.unit = unit
        self.used = used
        self.allowed = allowed
        self.requested = requested
        self.resets_at = resets_at
        super().__init__(f"{limit} reached ({used} of {allowed} {unit} used)")


class QueueFullError(UserFacingError):
    """Too many jobs are queued: `scope` is "member" or "guild"."""

    def __init__(self, scope: Literal["member", "guild"], limit: int) -> None:
        self.scope = scope
        self.limit = limit
        super().__init__(f"the {scope} queue is full ({limit} jobs)")


class PermissionDeniedError(UserFacingError):
    """The member may not do this; `action` says what they tried."""

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"you are not allowed to {action}")


class GuildNotServedError(UserFacingError):
    """The operator has not enabled the bot in this guild (GUILDS, /operator allow)."""

    def __init__(self, guild_id: int) -> None:
        self.guild_id = guild_id
        super().__init__(f"the bot is not enabled in guild {guild_id}")


class GuildPausedError(UserFacingError):
    """The guild's moderators paused new jobs (/config set paused); queued ones stay."""

    def __init__(self) -> None:
        super().__init__("new jobs are paused in this guild")


class JobNotFoundError(UserFacingError):
    """No job with this id in this guild (or not one of the member's)."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not found")


class JobNotCancellableError(UserFacingError):
    """The job has left the queue and can no longer be cancelled."""

    def __init__(self, job_id: int, state: str) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(f"job {job_id} is {state} and cannot be cancelled")


class PromptRejectedError(UserFacingError):
    """OpenAI's safety system refused the request (`moderation_blocked`). `stage`: "input" (the
    prompt or an input image), "output" (the image it made) or "unknown" (not said)."""

    def __init__(self, request_id: str | None = None, stage: str = "unknown") -> None:
        self.request_id = request_id
        self.stage = stage if stage in ("input", "output") else "unknown"
        super().__init__("the image service's safety system refused this request")


class BatchNotRunError(UserFacingError):
    """A relaxed job's batch ended (`status`: expired, cancelled, failed) without running it."""

    def __init__(self, status: str, reason: str | None = None) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"the relaxed batch {status} before this request ran")


class RelaxedNotOfferedError(UserFacingError):
    """A relaxed job queued before the bot was restarted on a provider without batches
    (`provider`, its title): it can never run, so it ends unsent."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        super().__init__(f"relaxed speed needs batches, which {provider} does not offer")


class SafetyRefusalError(UserFacingError):
    """Refused at admission by the guild's own checks; `cooldown_until` is set when this refusal
    started a cool-down for the member."""

    kind: str = "safety"

    def __init__(self, message: str, *, cooldown_until: datetime | None = None) -> None:
        self.cooldown_until = cooldown_until
        self.prompt: str | None = None  # what was refused, for the guild's log channel
        super().__init__(message)


class BlockedPhraseError(SafetyRefusalError):
    """The prompt contains `phrase` (as the moderator wrote it) from the guild's blocklist."""

    kind = "blocklist"

    def __init__(self, phrase: str, *, cooldown_until: datetime | None = None) -> None:
        self.phrase = phrase
        super().__init__(f"the prompt contains the blocked word {phrase!r}",
                         cooldown_until=cooldown_until)  # fmt: skip


class ScreeningFlaggedError(SafetyRefusalError):
    """The moderation endpoint flagged `source` ("prompt" or "image N") for `categories`
    (OpenAI's category names, highest score first)."""

    kind = "screening"

    def __init__(
        self, categories: tuple[str, ...], source: str, *, cooldown_until: datetime | None = None
    ) -> None:
        self.categories = categories
        self.source = source
        super().__init__(f"screening flagged the {source}: {', '.join(categories)}",
                         cooldown_until=cooldown_until)  # fmt: skip


class ScreeningUnavailableError(UserFacingError):
    """Screening is on but the moderation endpoint did not answer usefully: fail closed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # for the log; the member gets a plain sentence
        super().__init__(f"screening unavailable: {reason}")


class ScreeningUnsupportedError(ScreeningUnavailableError):
    """Screening is on but the provider in use cannot do it (no moderation endpoint, or none
    for images): waiting will not help, so the member is told the reason itself."""


class CooledDownError(UserFacingError):
    """The member was refused `refusals` times within the guild's window; new jobs wait until
    `until` (aware UTC)."""

    def __init__(self, until: datetime, refusals: int) -> None:
        self.until = until
        self.refusals = refusals
        super().__init__(f"cooled down until {until.isoformat()} after {refusals} refusals")


class UpstreamError(BotError):
    """The OpenAI API failed. Operator-facing: members see a short generic line."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        maybe_billed: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.request_id = request_id
        # True when the request reached OpenAI and we lost the answer (a read timeout, a dropped
        # response): it may have been billed, so the job keeps its reservation charged.
        self.maybe_billed = maybe_billed
        super().__init__(message)


class RateLimitedError(UpstreamError):
    """429 `rate_limit_exceeded`: temporary; `retry_after` is in seconds when the API said."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: str | None = "rate_limit_exceeded",
        request_id: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, code=code, request_id=request_id)


# Account-level causes: what is wrong with the operator's account, never with the member's job.
ACCOUNT_CAUSES = {
    "key_refused": "the API key was refused",
    "organization_not_verified": "the organization is not verified for this model",
    "no_credit": "the account has no credit or reached a spend limit",
    "blocked": "the provider has blocked the account or resource",
    "region": "the provider does not serve this country or region",
    "access_denied": "the provider denied access",
}


class AccountProblemError(UpstreamError):
    """The operator's account cannot make images (`cause`, a key of ACCOUNT_CAUSES); `words` is
    the provider's own message with secrets removed. Every job fails until the operator acts."""

    def __init__(
        self,
        message: str,
        *,
        cause: str = "access_denied",
        words: str = "",
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.cause = cause
        self.words = words
        super().__init__(message, status=status, code=code, request_id=request_id)

    @property
    def summary(self) -> str:
        return ACCOUNT_CAUSES.get(self.cause, ACCOUNT_CAUSES["access_denied"])


class BillingLimitError(AccountProblemError):
    """Billing hard limit, insufficient quota or a spend limit: retrying never helps."""


class AuthenticationError(AccountProblemError):
    """The key is wrong, the organisation is not verified, the region is not served, or the
    provider blocked the account."""


class ModelUnavailableError(UpstreamError):
    """The API does not know the model, or it has been retired upstream."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.model = model
        super().__init__(message, status=status, code=code, request_id=request_id)


class InvalidRequestError(UpstreamError):
    """A 4xx the bot did not expect; `param` names the offending field when the API said."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.param = param
        super().__init__(message, status=status, code=code, request_id=request_id)


class InputRejectedError(InvalidRequestError):
    """The API refused one input image ("... for image N"): `index` is 1-based, in the order the
    images were sent; `filename` is the member's file name ("" when unknown). A member-facing
    exception to the upstream family: the reply names the attachment."""

    def __init__(
        self,
        message: str,
        *,
        index: int,
        filename: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.index = index
        self.filename = filename
        super().__init__(message, param="image", status=status, code=code, request_id=request_id)


class UpstreamUnavailableError(UpstreamError):
    """5xx, a timeout or a dropped connection: retryable within bounds."""

    retryable = True


class AnswerLostError(UpstreamUnavailableError):
    """The request went out and its answer was lost or was not the provider's own: *in doubt*.

    A read timeout, a connection dropped after the body went out, a proxy's 502/504/524 or other
    non-JSON error page, an unreadable 2xx body. The provider may have made and billed the
    images, so the call is never sent again by the bot and its estimate stays charged.
    `reason` says why in words a member understands ("the connection dropped after the request
    was sent"). Set only by bot/provider/failures.py.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.reason = reason
        super().__init__(
            message, status=status, code=code, request_id=request_id, maybe_billed=True
        )


class ResultUnfetchedError(AnswerLostError):
    """A 2xx (or fal's COMPLETED) whose image could not be fetched (a URL off the result hosts,
    a failed download): the provider did the work, so it is no doubt. Charged the cost its body
    or headers reported, or its list price (`cost_micro_usd`, `cost_basis` its source, `how`
    for the member), marked actual; else (None) the call's estimate, marked estimated. Set only
    by bot/provider/failures.py."""

    def __init__(
        self, message: str, *, cost_micro_usd: int | None, cost_basis: str | None,
        status: int | None, request_id: str | None, how: str = "as the service reported",
    ) -> None:  # fmt: skip
        self.cost_micro_usd = cost_micro_usd
        self.cost_basis = cost_basis
        self.how = how
        super().__init__(message, reason="the image was made but could not be fetched",
                         status=status, code="unfetched_result", request_id=request_id)  # fmt: skip
