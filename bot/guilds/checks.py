"""Validation of guild limits and settings; errors name the command option a moderator used."""

from __future__ import annotations

from bot.catalog.models import Catalog, parse_size
from bot.domain import QUALITIES, Moderation
from bot.errors import InvalidOptionError
from bot.guild_settings import API_MAX_COUNT, Screening

MODERATIONS: tuple[Moderation, ...] = ("auto", "low")
SCREENINGS: tuple[Screening, ...] = ("off", "prompts", "prompts_and_images")
MAX_COOLDOWN_MINUTES = 7 * 24 * 60  # a week: longer is a ban, which Discord itself does better

# The /quota set and /config set option each field is set with.
LIMIT_OPTIONS = {
    "daily_micro_usd": "guild_daily_usd",
    "monthly_micro_usd": "guild_monthly_usd",
    "daily_images": "guild_daily_images",
    "user_daily_images": "user_daily_images",
    "user_daily_micro_usd": "user_daily_usd",
    "max_count": "max_count",
}
CONFIG_OPTIONS = {
    "default_model": "model",
    "default_quality": "quality",
    "default_size": "size",
    "allowed_models": "allowed_models",
    "moderation": "moderation",
    "previews": "previews",
    "log_channel_id": "log_channel",
    "relaxed": "relaxed",
    "screening": "screening",
    "spoilers": "spoilers",
    "cooldown_refusals": "cooldown_refusals",
    "cooldown_window_minutes": "cooldown_window",
    "cooldown_minutes": "cooldown_minutes",
    "paused": "paused",
}
RELAXED_MODES = ("off", "allowed", "default", "only")  # README: /config set relaxed
_SWITCHES = ("previews", "spoilers", "paused")
_CHOICES = {"default_quality": QUALITIES, "moderation": MODERATIONS, "relaxed": RELAXED_MODES}
_SAFETY = ("screening", "cooldown_refusals", "cooldown_window_minutes", "cooldown_minutes")


def check_limit(name: str, value: object) -> None:
    """A limit is a whole number, 0 meaning no limit; None resets it to the default."""
    if name not in LIMIT_OPTIONS:
        raise ValueError(f"unknown guild limit {name!r}")
    if value is None:
        return
    option = LIMIT_OPTIONS[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidOptionError(option, "must be 0 (no limit) or more")
    if name == "max_count" and value > API_MAX_COUNT:
        raise InvalidOptionError(option, f"must be 0 (no limit) to {API_MAX_COUNT}")


def check_config(name: str, value: object, catalog: Catalog | None) -> object:
    """The normalised value of one setting (None resets it), or InvalidOptionError."""
    if name not in CONFIG_OPTIONS:
        raise ValueError(f"unknown guild setting {name!r}")
    if value is None:
        return None
    option = CONFIG_OPTIONS[name]
    if name == "default_model":
        return check_model(option, str(value), catalog)
    if name == "allowed_models":
        return check_allowed(option, value, catalog)
    if name in _CHOICES:
        return check_choice(option, value, _CHOICES[name])
    if name == "default_size":
        return check_size(option, value)
    if name in _SWITCHES:
        if not isinstance(value, bool):
            raise InvalidOptionError(option, "must be on or off")
        return value
    if name in _SAFETY:
        return _check_safety(name, option, value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidOptionError(option, "must be a channel")
    return value


def _check_safety(name: str, option: str, value: object) -> object:
    """Screening and the cool-down (migration 0005)."""
    if name == "screening":
        return check_choice(option, value, SCREENINGS)
    if name == "cooldown_refusals":
        return check_whole(option, value, 0, 100, "0 (no cool-down) to 100")
    return check_whole(option, value, 1, MAX_COOLDOWN_MINUTES, "1 to 10080 minutes")


def check_model(option: str, name: str, catalog: Catalog | None) -> str:
    name = name.strip()
    if catalog is not None:
        catalog.get(name)  # ModelNotAllowedError listing the catalog
    elif not name:
        raise InvalidOptionError(option, "must name a model")
    return name


def check_allowed(option: str, value: object, catalog: Catalog | None) -> tuple[str, ...] | None:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, tuple | list):
        raise InvalidOptionError(option, "must be a comma-separated list of models")
    names = (check_model(option, str(item), catalog) for item in items if str(item).strip())
    return tuple(dict.fromkeys(names)) or None  # empty means "every model", never "no model"


def check_choice(option: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise InvalidOptionError(option, f"must be one of {', '.join(choices)}")
    return value.strip().lower()


def check_whole(option: str, value: object, low: int, high: int, words: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidOptionError(option, f"must be {words}")
    return value


def check_size(option: str, value: object) -> str:
    text = str(value).strip().lower()
    if text == "auto":
        return text
    parsed = parse_size(text)
    if parsed is None:
        raise InvalidOptionError(option, "must be auto or WIDTHxHEIGHT, e.g. 1024x1024")
    return f"{parsed[0]}x{parsed[1]}"
