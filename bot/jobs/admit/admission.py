"""Admission: price a validated request as an upper bound and reserve it against every limit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.catalog.models import Catalog
from bot.catalog.pricing import CostEstimate, estimate, text_tokens_upper_bound
from bot.clock import Clock, day_start, month_start
from bot.db import Database
from bot.errors import (
    GuildPausedError,
    InvalidOptionError,
    ModelNotOfferedError,
    QueueFullError,
)
from bot.guild_settings import effective_user_limits
from bot.jobs.admit.limits import AccountCeilings, MemberLimits, check_reservation
from bot.jobs.admit.provider_lacks import check_provider
from bot.jobs.admit.reserve import reserve
from bot.jobs.admit.validation import ValidRequest, validate
from bot.jobs.models import Submission
from bot.jobs.safety.community import Asker, CommunitySafety
from bot.jobs.split import max_requests, share
from bot.provider.costs import JobShape, reservation
from bot.provider.profile import ProviderProfile
from bot.records import JobRecord
from bot.store import jobs as store, meta
from bot.store.files import FileStore
from bot.store.standing import read_standing

log = logging.getLogger(__name__)

# Results that could not be posted are pointed out at the member's next command for this long
# (past it, /job still sends them while RESULT_RETENTION_DAYS keeps them).
UNSEEN_RESULTS_WINDOW = timedelta(days=30)
# A result finished this recently may still be on its way to Discord (uploads, retries): not
# pointed out as unposted yet.
POSTING_GRACE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Reserved:
    """An admitted job, what it reserved, and the member's results still waiting to be pointed
    out (ids of jobs whose result could not be posted; bot/store/standing.py)."""

    job: JobRecord
    estimate: CostEstimate
    unseen: tuple[int, ...]


class Admission:
    """Validates and prices a submission and reserves it (bot/jobs/admit/reserve.py), or
    refuses it."""

    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        files: FileStore,
        clock: Clock,
        fits_ever: Callable[[int, int], bool],
        ipm: int,
        tpm: int,
        default_model: str,
        member_queue_limit: int,
        guild_queue_limit: int,
        offered: Callable[[str], bool] | None = None,
        safety: CommunitySafety | None = None,
        provider: ProviderProfile | None = None,
        account: AccountCeilings | None = None,
    ) -> None:
        self._db = db
        self._provider = provider  # what the provider lacks is refused here (None: nothing)
        self._account = account or AccountCeilings()
        # Whether the provider offers a model to this key (its GET /models); None: all are.
        self._offered = offered
        self._catalog = catalog
        self._files = files
        self._clock = clock
        self._fits_ever = fits_ever
        self._ipm = ipm
        self._tpm = tpm
        self._default_model = default_model
        self._member_queue = member_queue_limit
        self._guild_queue = guild_queue_limit
        self._safety = safety
        self._replaced: dict[int, tuple[str, str]] = {}  # guild -> (retired default, used)

    async def check_room(self, guild_id: int, user_id: int) -> None:
        """QueueFullError when the member's or the guild's queue is full: asked before a job's
        files are downloaded and decoded, which would be wasted (admission checks again)."""
        now = self._clock.now()
        day, month = day_start(now), month_start(now)
        use = await store.budget_use(
            self._db, guild_id, user_id, day, month, account=self._account.active
        )
        if self._member_queue and use.user_queued >= self._member_queue:
            raise QueueFullError("member", self._member_queue)
        if self._guild_queue and use.guild_queued >= self._guild_queue:
            raise QueueFullError("guild", self._guild_queue)

    async def admit(self, s: Submission) -> Reserved:
        """The queued job with its reservation, or a UserFacingError naming what was refused."""
        now = self._clock.now()
        standing = await read_standing(
            self._db, s.guild_id, s.user_id, now, now - UNSEEN_RESULTS_WINDOW, now - POSTING_GRACE
        )
        settings = standing.settings
        if settings.config.paused:
            raise GuildPausedError()
        who = Asker(s.guild_id, s.channel_id, s.user_id)
        if self._safety is not None:
            self._safety.check_cooldown(settings.config, standing.refusal_times)
        valid = validate(
            s, settings, self._catalog, default_model=self._default_model, today=now.date(),
            offered=self._offered,
        )  # fmt: skip
        valid = check_provider(self._provider, s, valid, settings)
        self._note_replaced_default(s, settings.config.default_model, valid.spec.name)
        self._check_offered(valid.spec.name, settings.config.allowed_models, now)
        if self._safety is not None:
            await self._safety.check_prompt(who, settings.config, valid.prompt)
        cost = self._price(s, valid)
        images, usd = effective_user_limits(settings.limits, standing.role_quotas, s.role_ids)
        limits = MemberLimits(
            settings.limits, images, usd, self._member_queue, self._guild_queue, self._account
        )
        screening = self._safety is not None and settings.config.screening != "off"
        if s.images or screening:
            # A lock-free look first, so that a refusal costs no file writes and no moderation
            # call; the check that counts is the one repeated inside the transaction.
            day, month = day_start(now), month_start(now)
            use = await store.budget_use(
                self._db, s.guild_id, s.user_id, day, month, account=self._account.active
            )
            check_reservation(use, limits, cost, now)
        if self._safety is not None:  # slow (network) when on: only for a job that fits
            await self._safety.screen(who, settings.config, valid.request_prompt, s.images)
        saved = await self._files.save_inputs(s.images, s.mask, s.markup) if s.images else []
        try:
            job = await reserve(self._db, self._clock, s, valid, cost, limits, saved)
            return Reserved(job, cost, standing.unseen)
        except BaseException:
            await self._files.delete(f.relpath for f in saved)
            raise

    def _note_replaced_default(self, s: Submission, guild_default: str | None, used: str) -> None:
        """Remember that a retired default gave way to `used` for this member's job."""
        default = guild_default or self._default_model
        if not s.choices.model and used != default:
            self._replaced[s.guild_id] = (default, used)

    async def replaced_default_notice(self, guild_id: int) -> str | None:
        """Once per guild and retired model (kept in the database): the line that tells the
        guild's moderators, and the operator's log, that members now get the replacement."""
        found = self._replaced.pop(guild_id, None)
        if found is None:
            return None
        default, used = found
        key = f"retired_default_told:{guild_id}:{default}"
        mark = f"{used}@{self._clock.now().isoformat()}"
        async with self._db.transaction() as conn:
            stored = await meta.get_or_create(conn, key, mark)
        if stored != mark:
            return None  # told before
        log.warning(
            "guild %s: the default model %s is retired; members get %s until a moderator "
            "sets another with /config set model",
            guild_id,
            default,
            used,
        )
        return (
            f"The server's default model {default} has been retired, so members now get "
            f"{used}. Choose another with /config set model."
        )

    def _check_offered(self, model: str, allowed: tuple[str, ...] | None, now: datetime) -> None:
        """Refuse a model the provider does not list, naming those it lists and the guild allows."""
        offered = self._offered
        if offered is None or offered(model):
            return
        available = tuple(
            name
            for name, spec in self._catalog.models.items()
            if offered(name) and not spec.is_retired(now.date())
            and (allowed is None or name in allowed)
        )  # fmt: skip
        raise ModelNotOfferedError(model, available)

    def _price(self, s: Submission, valid: ValidRequest) -> CostEstimate:
        sizes = [(image.width, image.height) for image in s.images]
        for extra in (s.mask, s.markup):  # each is uploaded and billed as an input image
            if extra is not None:
                sizes.append((extra.width, extra.height))
        if valid.speed == "relaxed":
            # One batch line at the batch prices; batches have their own rate-limit pool, so
            # the account's IPM and TPM do not apply (docs/sources.md#batch-limits).
            relaxed = estimate(
                valid.spec, valid.options, prompt=valid.request_prompt, input_sizes=sizes,
                relaxed=True,
            )  # fmt: skip
            return self._provider_price(relaxed, valid, len(sizes), 1)
        # A generation may go out as one request per image: each pays its prompt again.
        requests = max_requests(s.operation, valid.options.n)
        cost = estimate(
            valid.spec,
            valid.options,
            prompt=valid.request_prompt,
            input_sizes=sizes,
            requests=requests,
        )
        cost = self._provider_price(cost, valid, len(sizes), requests)
        if cost.images > self._ipm:
            raise InvalidOptionError(
                "count",
                f"the bot's account can make at most {self._ipm} image"
                f"{'' if self._ipm == 1 else 's'} a minute",
            )
        # Only the smallest request the job can be sent in has to fit the per-minute limits.
        least = 1 if requests > 1 else cost.images
        tokens = share(cost.tokens, cost.images, range(least))
        if not self._fits_ever(least, tokens):
            raise InvalidOptionError(
                "count",
                f"this request needs up to {tokens:,} tokens, more than the account's "
                f"{self._tpm:,} per minute; ask for fewer images, a smaller size or lower quality",
            )
        return cost

    def _provider_price(
        self, cost: CostEstimate, valid: ValidRequest, inputs: int, requests: int
    ) -> CostEstimate:
        """The estimate as the provider bills it (bot/provider/costs.py `reservation`): its
        per-image list where that is more, plus its markup."""
        if self._provider is None:
            return cost
        opts = valid.options
        shape = JobShape(
            model=opts.model, size=opts.size, quality=opts.quality, n=opts.n,
            text_tokens=text_tokens_upper_bound(valid.request_prompt), input_images=inputs,
            requests=requests,
        )  # fmt: skip
        return replace(cost, micro_usd=reservation(self._provider, cost.micro_usd, shape))
