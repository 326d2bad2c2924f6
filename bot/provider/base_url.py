"""The URL a key goes to when OPENAI_BASE_URL is unset: PROVIDER's own, never another's."""

from __future__ import annotations

from bot.errors import ConfigError
from bot.provider.profiles import SHIPPED, load_profile
from bot.settings import Settings


def with_base_url(settings: Settings) -> Settings:
    """`settings` with OPENAI_BASE_URL, when unset, as PROVIDER's own (fal's queue, Lumenfall,
    Vercel's gateway, OpenAI), so a key never goes where PROVIDER does not live; a
    ConfigError naming OPENAI_BASE_URL where the profile has no one URL (Azure, LiteLLM)."""
    if "openai_base_url" in settings.model_fields_set:
        return settings
    url = default_base_url(settings.provider)
    if url is None and _is_file(settings.provider):
        raise ConfigError(
            "OPENAI_BASE_URL",
            f"must be set with PROVIDER={settings.provider}: an operator's profile file uses its "
            "own base_url, never the one of the profile it extends",
        )
    if url is None:
        raise ConfigError(
            "OPENAI_BASE_URL",
            f"must be set with PROVIDER={settings.provider}: it has no one URL (your resource's "
            'or proxy\'s, README "Providers")',
        )
    return settings.model_copy(update={"openai_base_url": url})


def _is_file(provider: str | None) -> bool:
    name = (provider or "").strip()
    return bool(name) and name.lower() not in SHIPPED


def default_base_url(provider: str | None) -> str | None:
    """The URL PROVIDER's profile speaks to when OPENAI_BASE_URL is unset, None when it has
    none (Azure, LiteLLM: one per operator). A PROVIDER that cannot be read answers OpenAI's:
    its own error is told where the profile is loaded."""
    try:
        return load_profile(provider, "").base_url or None
    except ConfigError:
        return "https://api.openai.com/v1"
