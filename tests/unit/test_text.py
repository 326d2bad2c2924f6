"""Look-alike letters folded by Unicode's confusables; names' keys ignore invisible characters."""

from __future__ import annotations

import pytest

from bot.text import drop_controls, drop_invisible, name_key, skeleton


@pytest.mark.parametrize(
    "disguised",
    ["gօre", "gorɛ", "GORᎬ", "🇬🇴🇷🇪", "🅶🅾🆁🅴", "🅖🅞🅡🅔", "ＧＯＲＥ", "𝐠𝐨𝐫𝐞", "ɢᴏʀᴇ"],
)
def test_look_alikes_of_every_script_fold_to_latin(disguised: str) -> None:
    assert skeleton(disguised) == "gore"


def test_ascii_and_unrelated_letters_stay() -> None:
    assert skeleton("Hello 455") == "hello 455"
    assert skeleton("日本語") == "日本語"


def test_invisible_and_bidi_characters_do_not_make_another_name() -> None:
    assert drop_invisible("No\u200bir\u202e") == "Noir"
    assert name_key("\u202aNoir\u202c") == name_key("NOIR") == name_key("Nоir") == "noir"
    assert name_key("Noir") != name_key("Nair")


def test_control_characters_go_but_tabs_and_line_breaks_stay() -> None:
    assert drop_controls("a\x00b\x07c\x1bd\x7fe\tf\ng\r\nh") == "abcde\tf\ng\r\nh"
    assert drop_controls("wa\ud800ter \U0001f98a") == "water \U0001f98a"  # a pair stays
    assert name_key("wa\x00ter") == name_key("water")  # a style looked up as it was saved
