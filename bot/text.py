"""Look-alike letters and invisible characters: Unicode's confusables (UTS #39) and names' keys."""

from __future__ import annotations

import functools
import re
import unicodedata

from confusable_homoglyphs.confusables import confusables_data

# Format characters (Cf: zero-width space and joiners, word joiner, BOM, soft hyphen, and the
# bidi controls such as U+202E RIGHT-TO-LEFT OVERRIDE) render as nothing or reorder what follows:
# a name holding them looks like another name.
_FORMAT = re.compile(r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
                     r"\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")  # fmt: skip
# Emoji letters NFKC leaves alone: regional indicators (🇬) and negative circled or squared
# letters (🅖, 🅶), named "... LETTER G" in the Unicode character database.
_EMOJI_LETTERS = range(0x1F100, 0x1F200)
_LETTER_NAME = re.compile(r"(?:LATIN CAPITAL LETTER|SYMBOL LETTER) ([A-Z])$")
_ASCII_LETTER = re.compile(r"[a-z]")
# Latin letters with no decomposition and no Latin twin in the confusables (IPA ɛ, script ɡ):
# the letter their Unicode name ends with ("LATIN SMALL LETTER OPEN E" reads as e).
_LATIN_BLOCKS = (range(0x0180, 0x02B0), range(0x1D00, 0x1DC0), range(0x2C60, 0x2C80),
                 range(0xA720, 0xA800), range(0xAB30, 0xAB70))  # fmt: skip
_LATIN_NAME = re.compile(r"^LATIN (?:SMALL |CAPITAL )?LETTER (?:[A-Z]+ )*?([A-Z])(?: WITH .*)?$")
_SEARCH_DEPTH = 3  # steps through the confusables graph to reach a Latin letter (ɛ → ꞓ → ε)


# C0 controls and DEL but tab, line feed and carriage return, and lone surrogates: nothing a
# member means to write (PostgreSQL's text refuses a NUL; no UTF-8 carries a lone surrogate).
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def drop_controls(text: str) -> str:
    """`text` without control characters other than tab and line breaks, nor lone
    surrogates."""
    return _CONTROLS.sub("", text)


def drop_invisible(text: str) -> str:
    """NFKC, without the format characters that render as nothing or reorder text."""
    return _FORMAT.sub("", unicodedata.normalize("NFKC", text))


def name_key(name: str) -> str:
    """Two names with the same key look alike (case, width, invisible characters, look-alike
    letters of other scripts): they are the same name."""
    cleaned = " ".join(drop_invisible(drop_controls(name)).split())
    return skeleton(cleaned)


def skeleton(text: str, extra: dict[int, str] | None = None) -> str:
    """Text case-folded, each look-alike letter as the Latin letter it imitates."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    folded = folded.translate(latin_twins())
    return folded.translate(extra) if extra else folded


@functools.cache
def latin_twins() -> dict[int, str]:
    """Every non-ASCII character Unicode lists as confusable with a Latin letter (UTS #39
    confusables, https://www.unicode.org/reports/tr39/#Confusable_Detection, as shipped by
    confusable-homoglyphs), plus the emoji letters, mapped to that letter in lower case."""
    table: dict[int, str] = {}
    for char in confusables_data:
        if len(char) == 1 and not char.isascii():
            twin = _latin_twin(char)
            if twin is not None:
                table[ord(char)] = twin
    for block in _LATIN_BLOCKS:
        for code in block:
            named = _LATIN_NAME.search(unicodedata.name(chr(code), ""))
            if named and code not in table:
                table[code] = named[1].lower()
    for code in _EMOJI_LETTERS:
        found = _LETTER_NAME.search(unicodedata.name(chr(code), ""))
        if found:
            table[code] = found[1].lower()
    return table


def _latin_twin(char: str) -> str | None:
    """The Latin letter nearest `char` in the confusables graph (breadth first), if any."""
    seen, frontier = {char}, [char]
    for _ in range(_SEARCH_DEPTH):
        step: list[str] = []
        for current in frontier:
            for glyph in confusables_data.get(current, ()):
                other = str(glyph["c"]).strip("\u200e")
                folded: str = other.casefold()
                if len(folded) == 1 and _ASCII_LETTER.fullmatch(folded):
                    return folded
                if other not in seen and len(other) == 1:
                    seen.add(other)
                    step.append(other)
        frontier = step
    return None
