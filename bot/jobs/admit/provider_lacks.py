"""Refuses, before anything is queued or charged, what the provider in use does not offer."""

from __future__ import annotations

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
    if s.mask is not None and not profile.edits.masks:
        raise InvalidOptionError("mask", f"{profile.title} takes no mask on edits")
    if valid.speed == "relaxed" and not profile.features.batches:
        if s.choices.speed is None and settings.config.relaxed != "only":
            return replace(valid, speed="fast")
        raise InvalidOptionError(
            "speed", f"relaxed speed needs batches, which {profile.title} does not offer"
        )
    return valid
