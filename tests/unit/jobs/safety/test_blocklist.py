"""The blocklist matcher on a table of tricky cases: tricks that must match, innocent words that
must not."""

from __future__ import annotations

import pytest

from bot.jobs.safety.blocklist import Blocklist, phrase_key, split_phrases

BLOCKED = Blocklist.of(["ass", "bad thing", "Crème", "kill", "gore"])

MUST_MATCH = [
    ("ass", "ass"),
    ("ASS", "ass"),
    ("what an ass!", "ass"),
    ("(ass)", "ass"),
    ("ＡＳＳ", "ass"),  # fullwidth letters
    ("ａｓｓ hat", "ass"),
    ("a\u200bss", "ass"),  # zero-width space inside
    ("a\u200dss", "ass"),  # zero-width joiner
    ("a\u2060ss", "ass"),  # word joiner
    ("as\ufeffs", "ass"),  # byte-order mark
    ("a\u00adss", "ass"),  # soft hyphen
    ("a\u3164ss", "ass"),  # Hangul filler, shown blank by Discord
    ("a\uffa0ss", "ass"),  # halfwidth Hangul filler
    ("a\u115fss", "ass"),  # Hangul choseong filler
    ("a\u1160ss", "ass"),  # Hangul jungseong filler
    ("g\u2800ore", "gore"),  # Braille blank, shown blank
    ("g\u2028ore", "gore"),  # line separator (Zl), not a line break in Discord
    ("go\u2029re", "gore"),  # paragraph separator (Zp)
    ("g\u180eore", "gore"),  # Mongolian vowel separator (Cf)
    ("g\u2800\u2800o\u3164r\u2028e", "gore"),  # several kinds at once
    ("àśš", "ass"),  # accents
    ("a\u0301ss", "ass"),  # combining accent
    ("\u0430ss", "ass"),  # Cyrillic а
    ("\u03b1ss", "ass"),  # Greek alpha
    ("ᴀss", "ass"),  # small capital
    ("\U0001d41a\U0001d42c\U0001d42c", "ass"),  # mathematical bold
    ("ⓐⓢⓢ", "ass"),  # circled letters
    ("a55", "ass"),  # digits for letters inside a word
    ("@ss", "ass"),  # signs for letters
    ("a$$", "ass"),
    ("the bad thing", "bad thing"),
    ("the BAD   thing", "bad thing"),
    ("bad-thing", "bad thing"),
    ("bad\nthing", "bad thing"),
    ("ｂａｄ ｔｈｉｎｇ", "bad thing"),
    ("creme brulee", "Crème"),  # the blocked word had the accent, the prompt not
    ("CRÈME", "Crème"),
    ("k\u200bi\u200bl\u200bl them", "kill"),
    ("K1LL", "kill"),
    ("g o r e", "gore"),  # spelled out
    ("a g.o.r.e scene", "gore"),
    ("ｇ ｏ ｒ ｅ", "gore"),
]

MUST_NOT_MATCH = [
    "class",
    "a classic passage",
    "assassin",
    "bass guitar",
    "compass",
    "ａ ｓｓ",  # split in two words
    "badthing",
    "bad things",  # another word
    "a bad day, one thing",
    "skill",
    "killer whale",
    "455 horsepower",  # a number stays a number
    "1080p",
    "crèmerie",
    "g o r e s",  # spelled out, another word
    "g o and r e",
    "",
]


@pytest.mark.parametrize(("text", "phrase"), MUST_MATCH)
def test_tricks_still_match(text: str, phrase: str) -> None:
    assert BLOCKED.find(text) == phrase


@pytest.mark.parametrize("text", MUST_NOT_MATCH)
def test_innocent_words_containing_a_blocked_one_pass(text: str) -> None:
    assert BLOCKED.find(text) is None


def test_the_first_blocked_phrase_in_the_text_is_named() -> None:
    assert BLOCKED.find("kill the ass") == "kill"


def test_an_empty_blocklist_matches_nothing() -> None:
    assert Blocklist.of([]).find("anything at all") is None


def test_keys_make_look_alike_phrases_one_entry() -> None:
    assert phrase_key("ＢＡＤ  Thing") == phrase_key("bad thing") == "bad thing"
    assert phrase_key("...") == ""


def test_moderator_input_is_split_on_commas() -> None:
    assert split_phrases(" ass, bad   thing ,, ") == ["ass", "bad thing"]
