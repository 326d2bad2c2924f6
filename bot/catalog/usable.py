"""Whether a guild can use a default it is setting: a live, offered model and a size it takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

from bot.catalog.models import Catalog, ModelSpec
from bot.errors import InvalidOptionError


def usable_models(
    catalog: Catalog, today: date, offers: Callable[[str], bool], allowed: tuple[str, ...] | None
) -> tuple[str, ...]:
    """The models a member of the guild could run today."""
    return tuple(
        name
        for name in catalog.names()
        if not catalog.get(name).is_retired(today)
        and offers(name)
        and (allowed is None or name in allowed)
    )


def check_usable(
    changes: Mapping[str, object],
    *,
    current_model: str,
    catalog: Catalog,
    today: date,
    offers: Callable[[str], bool],
    allowed: tuple[str, ...] | None,
) -> None:
    """Refuse, naming what would work, a default model that is retired or not offered, and a
    default size or quality the (new or current) default model does not take (README, /config
    set: refused when it is set, not when a member next runs a command)."""
    model = changes.get("default_model")
    if not isinstance(model, str) and current_model not in catalog.names():
        return  # the current default is already unusable; admission names it to members
    spec = catalog.get(model.strip() if isinstance(model, str) else current_model)
    if isinstance(model, str):
        _check_model(spec, catalog, today, offers, allowed)
    size = changes.get("default_size")
    if isinstance(size, str):
        spec.validate_size(size)  # InvalidOptionError("size", ... valid: ...)
    quality = changes.get("default_quality")
    if isinstance(quality, str) and quality not in spec.qualities:
        raise InvalidOptionError("quality", f"{spec.name} offers {', '.join(spec.qualities)}")


def _check_model(
    spec: ModelSpec,
    catalog: Catalog,
    today: date,
    offers: Callable[[str], bool],
    allowed: tuple[str, ...] | None,
) -> None:
    works = ", ".join(usable_models(catalog, today, offers, allowed)) or "none"
    if spec.is_retired(today):
        instead = f"; its replacement is {spec.replacement}" if spec.replacement else ""
        raise InvalidOptionError(
            "model", f"{spec.name} was retired on {spec.shutdown}{instead}. Usable: {works}"
        )
    if not offers(spec.name):
        raise InvalidOptionError(
            "model", f"the image service does not offer {spec.name} to this bot. Usable: {works}"
        )
