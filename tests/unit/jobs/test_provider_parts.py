"""The job queue's provider-dependent parts: pacing as the profile says."""

from __future__ import annotations

from bot.jobs.provider_parts import paced
from bot.jobs.wiring import QueueSettings
from bot.provider.profiles import load_profile
from bot.settings import load_settings


def test_the_queue_is_paced_as_the_providers_profile_says() -> None:
    settings = load_settings(env_file=None, discord_token="t", openai_api_key="k")
    queue = QueueSettings.from_settings(settings)
    assert paced(queue, load_profile("openai", ""), settings) == queue  # the tier's IPM/TPM
    fal = paced(queue, load_profile("fal", ""), settings)
    assert fal.max_in_flight == 2 and fal.ipm > queue.ipm  # N at once, not per minute
    none = paced(queue, load_profile("lumenfall", ""), settings)
    assert none.ipm > queue.ipm and none.max_in_flight == queue.max_in_flight
    capped = load_settings(env_file=None, discord_token="t", openai_api_key="k", openai_ipm=7)
    assert paced(queue, load_profile("lumenfall", ""), capped).ipm == 7  # the operator's cap
