"""The table of options (bot/choices.py): every value it lists is offered, accepted and sent."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from bot.choices import BY_FIELD, OPTIONS
from bot.domain import Choices, ImageOptions, ImageRequest
from bot.errors import InvalidOptionError, ModelRetiredError
from bot.guild_settings import GuildConfig, GuildLimits, GuildSettings
from bot.jobs.admit.validation import ValidRequest, validate
from bot.jobs.models import Submission
from bot.provider.batch_wire import edit_json_body
from bot.provider.wire import edit_form, generation_body
from tests.unit.jobs_harness import catalog, input_image, submission

CHOICE_NAMES = [f.name for f in dataclasses.fields(Choices)]
FIXED_VALUES = [(spec.field, value) for spec in OPTIONS for value in spec.values]
SETTINGS = GuildSettings(1, GuildLimits(), GuildConfig(relaxed="allowed"))
TODAY = date(2026, 11, 29)  # a fixed day: which models are retired does not move with the clock


def _current_model() -> str:
    """The catalog's first model not retired on TODAY."""
    return next(n for n in catalog().names() if not catalog().get(n).is_retired(TODAY))


def test_every_choice_but_the_prompt_is_one_option_of_the_table() -> None:
    assert sorted(spec.field for spec in OPTIONS) == sorted(set(CHOICE_NAMES) - {"prompt"})
    assert len({spec.option for spec in OPTIONS}) == len(OPTIONS)
    sent = {f.name for f in dataclasses.fields(ImageOptions)}
    assert [s.field for s in OPTIONS if s.api and s.field not in sent] == []
    assert [s.option for s in OPTIONS if not 0 < len(s.description) <= 100] == []  # Discord's
    assert [s.option for s in OPTIONS if s.default not in (None, *s.values)] == []


def _picking(field: str, value: str, **kw: Any) -> Submission:
    """A submission picking `value` for `field`: an edit when the option is edit-only."""
    kw[field] = value
    if BY_FIELD[field].edit_only:
        kw.update(operation="edit", images=(input_image(),))
    return submission(**kw)


def _accepted(field: str, value: str) -> tuple[Submission, ValidRequest]:
    """The submission picking `value`, validated with the first catalog model that takes it."""
    for model in catalog().names():
        picked = _picking(field, value, model=model)
        try:
            return picked, validate(
                picked, SETTINGS, catalog(), default_model=_current_model(), today=TODAY
            )
        except (InvalidOptionError, ModelRetiredError):
            continue
    pytest.fail(f"no model of the catalog takes {BY_FIELD[field].option}:{value}")


@pytest.mark.parametrize(("field", "value"), FIXED_VALUES)
def test_every_value_of_the_table_is_accepted_kept_and_sent(field: str, value: str) -> None:
    picked, valid = _accepted(field, value)
    kept = valid.speed if field == "speed" else getattr(valid.options, field)
    assert kept == value
    api = BY_FIELD[field].api
    if api is None:  # the speed picks the endpoint (the Batch API), no body field
        return
    request = ImageRequest(picked.operation, valid.prompt, valid.options, images=picked.images)
    if picked.operation == "edit":
        fields, _ = edit_form(request, stream=False)
        assert fields[api] == value
        assert edit_json_body(request)[api] == value  # as a batch line sends it
    else:
        assert generation_body(request, stream=False)[api] == value


@pytest.mark.parametrize("field", [spec.field for spec in OPTIONS if spec.fixed])
def test_a_value_not_in_the_table_is_refused_naming_the_option(field: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        validate(
            _picking(field, "sideways"), SETTINGS, catalog(), default_model=_current_model(),
            today=TODAY,
        )  # fmt: skip
    assert caught.value.option == BY_FIELD[field].option


def test_an_edit_only_option_is_refused_on_a_generation() -> None:
    for spec in (s for s in OPTIONS if s.edit_only):
        kw: dict[str, Any] = {spec.field: spec.values[-1]}
        picked = submission(**kw)  # a generation
        with pytest.raises(InvalidOptionError, match="only applies to edits"):
            validate(picked, SETTINGS, catalog(), default_model=_current_model(), today=TODAY)
