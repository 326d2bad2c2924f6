"""The bot's key is found among the organization's keys by its redacted prefix and suffix."""

from __future__ import annotations

from bot.provider.org_keys import matches, pick
from bot.provider.organization import ProjectKey

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"


def test_the_key_whose_redacted_value_fits_is_chosen() -> None:
    keys = [
        ProjectKey("proj_a", "key_other", "sk-proj-zzz...999"),
        ProjectKey("proj_a", "key_bot", "sk-proj-abc...123"),
    ]
    found = pick(SECRET, keys)
    assert (found.key_id, found.project) == ("key_bot", "proj_a")


def test_two_look_alikes_or_none_choose_nothing_and_say_why() -> None:
    twins = [ProjectKey("p", "key_1", "sk-proj-abc...123"), ProjectKey("q", "key_2", "sk-pro...23")]
    assert pick(SECRET, twins).key_id is None
    assert "2 API keys look like" in pick(SECRET, twins).why_not
    lone = [ProjectKey("p", "key_1", "sk-proj-xyz...123")]
    assert pick(SECRET, lone).key_id is None
    assert "no API key of the 1 listed" in pick(SECRET, lone).why_not


def test_a_value_that_hides_nothing_or_keeps_no_suffix_never_matches() -> None:
    assert not matches(SECRET, SECRET)  # not a redacted value
    assert not matches(SECRET, "sk-proj-abc...")
    assert matches(SECRET, "sk-proj-abc****...****0123")
