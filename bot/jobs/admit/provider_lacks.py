"""Refuses, before anything is queued or charged, what the provider in use does not offer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.errors import InvalidOptionError
from bot.guild_settings import GuildSettings
from bot.jobs.admit.validation import ValidRequest
from bot.jobs.models import Submission
from bot.provider.profile import ProviderProfile


def check_provider(
    profile: ProviderProfile | None, s: Submission, valid: ValidRequest, settings: GuildSettings
) -> ValidRequest:
    """The request as the provider can run it, or InvalidOptionError with a short reason.

    Relaxed speed needs batches: a job that is relaxed only by the server's default goes fast
    instead (as for a model without batch prices); one the member asked relaxed is refused.
    """
    if profile is None:
        return valid
    limits = profile.limits
    if valid.options.n > limits.max_images:
        raise InvalidOptionError(
            "count", f"{profile.title} makes at most {limits.max_images} images per request"
        )
    if valid.options.output_format not in limits.output_formats:
        made = " or ".join(limits.output_formats)
        raise InvalidOptionError(
            "format", f"{profile.title} makes {made} only, not {valid.options.output_format}"
        )
    if s.mask is not None and not profile.edits.masks:
        raise InvalidOptionError("mask", f"{profile.title} takes no mask on edits")
    if s.mask is not None and not profile.edits.takes_mask(valid.spec.name):
        raise InvalidOptionError(
            "mask", f"{profile.title} takes no mask on {valid.spec.name} edits; try another model"
        )
    if s.markup is not None and not profile.edits.markup:
        raise InvalidOptionError("markup", f"{profile.title} takes no markup on edits")
    if valid.speed == "relaxed" and not profile.features.batches:
        if s.choices.speed is None and settings.config.relaxed != "only":
            return replace(valid, speed="fast")
        raise InvalidOptionError(
            "speed", f"relaxed speed needs batches, which {profile.title} does not offer"
        )
    return valid


def check_config(profile: ProviderProfile, changes: Mapping[str, object]) -> None:
    """InvalidOptionError at /config set for a switch the provider cannot serve: screening
    without its moderation endpoint, or image screening without image moderation."""
    screening, features = changes.get("screening"), profile.features
    if screening in ("prompts", "prompts_and_images") and not features.moderation:
        raise InvalidOptionError(
            "screening", f"{profile.title} has no moderation endpoint to screen with"
        )
    if screening == "prompts_and_images" and not features.image_moderation:
        raise InvalidOptionError(
            "screening", f"{profile.title} cannot moderate images; use screening:prompts"
        )
