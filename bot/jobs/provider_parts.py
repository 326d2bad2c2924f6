"""The parts of the job queue that depend on the provider's profile: client, screening, pacing."""

from __future__ import annotations

from dataclasses import replace

import httpx

from bot.clock import Clock
from bot.imaging.masks import white_edits
from bot.jobs.safety.screening import RequestPacer, Screener
from bot.jobs.wiring import QueueSettings
from bot.provider.batches import OpenAIBatchesClient
from bot.provider.download import ResultDownloader
from bot.provider.fal import FalQueueClient
from bot.provider.images import OpenAIImagesClient
from bot.provider.moderation import OpenAIModerationClient
from bot.provider.profile import ProviderProfile
from bot.provider.timeouts import ReadTimeouts
from bot.settings import Settings


def images_client(
    http: httpx.AsyncClient,
    profile: ProviderProfile,
    downloader: ResultDownloader,
    read_timeouts: ReadTimeouts | None,
) -> OpenAIImagesClient | FalQueueClient:
    """The client for the profile's API (the Images API; fal's queue API in bot/provider/fal.py)."""
    if profile.api == "fal_queue":
        convert = white_edits if profile.edits.mask_convention == "white_edits" else None
        return FalQueueClient(http, profile=profile, downloader=downloader,
                              timeouts=read_timeouts, convert_mask=convert)  # fmt: skip
    return OpenAIImagesClient(http, timeouts=read_timeouts, profile=profile, downloader=downloader)


def screener_for(
    profile: ProviderProfile, http: httpx.AsyncClient, settings: Settings, clock: Clock
) -> Screener:
    """Screening through the provider's moderation endpoint, refused where it has none."""
    features, title = profile.features, profile.title
    return Screener(
        OpenAIModerationClient(http),
        RequestPacer(settings.moderation_rpm, clock),
        missing=None if features.moderation else f"{title} has no moderation endpoint",
        images_missing=None if features.image_moderation else f"{title} cannot moderate images",
    )


def batches_for(profile: ProviderProfile, http: httpx.AsyncClient) -> OpenAIBatchesClient | None:
    """The Batch API (relaxed speed) where the provider has one, with its input expiry."""
    if not profile.features.batches:
        return None
    return OpenAIBatchesClient(
        http,
        input_expiry_days=profile.features.batch_input_expiry_days,
        model_ids=profile.models.upstream,
    )


# A gateway that states no limits (or limits by concurrency) is paced by nothing per minute:
# these stand for "no limit" without turning off the pacer's arithmetic.
UNPACED_IPM, UNPACED_TPM = 100_000, 10**10


def paced(queue: QueueSettings, profile: ProviderProfile, settings: Settings) -> QueueSettings:
    """The queue's pacing as the provider's profile says: IPM/TPM, N at once, or none; limits
    the operator set (OPENAI_IPM/OPENAI_TPM) hold everywhere."""
    pacing = profile.pacing
    if pacing.mode == "ipm_tpm":
        return queue
    ipm = settings.openai_ipm or UNPACED_IPM
    tpm = settings.openai_tpm or UNPACED_TPM
    if pacing.mode == "concurrency":
        return replace(queue, ipm=ipm, tpm=tpm, max_in_flight=max(1, pacing.concurrency))
    return replace(queue, ipm=ipm, tpm=tpm)
