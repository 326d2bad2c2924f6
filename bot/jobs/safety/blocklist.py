"""The blocklist matcher: whole words and phrases, after NFKC and look-alike folding (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.text import drop_controls, latin_twins

MAX_PHRASE_CHARS = 100  # a phrase longer than this is a sentence, not a word to block
MAX_PHRASES = 500  # per guild; matching stays a dictionary look-up per word of the prompt

# Characters that render as nothing (or as a blank) but are not separators: removed, so that
# "a\u200bss" reads "ass". By category: format characters (Cf: zero-width space/joiners, word
# joiner, BOM, soft hyphen, bidi controls) and the line and paragraph separators (Zl, Zp: U+2028
# and U+2029: keyboards type "\n" for a new line, so these mostly come pasted inside a word).
# These blanks are a symbol (So: the Braille blank U+2800) and letters (Lo: the Hangul fillers)
# that render as nothing or as a blank.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Mn", "Me"})
_INVISIBLE_FILLERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")
# The zero-width characters seen in filter dodging, plus the blanks, dropped in one pass.
_COMMON_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u2028\u2029" + "".join(_INVISIBLE_FILLERS))
)

# Letters of other scripts that look like Latin ones, as used to dodge word filters (Unicode's
# confusables for the Cyrillic and Greek lower-case letters that have a Latin twin). NFKC
# leaves them alone because they are different letters, not compatibility forms.
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
        # Latin letters without a decomposition, and small capitals
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ɑ": "a", "ɡ": "g",
        "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i",
        "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
        "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    }
)  # fmt: skip

# Digits and signs standing in for letters ("a55", "h3ll0", "@ss"); applied only inside words
# that also hold a letter, so that numbers such as "455" or "1080" stay numbers.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s"})  # fmt: skip
_WORD = re.compile(r"[^\W_]+|[@$]+")
_PLAIN_WORD = re.compile(r"[^\W_]+")
_WORD_WITH_SIGNS = re.compile(r"(?:[^\W_]|[@$])+")
_LEET_CHARS = re.compile(r"[0-9@$]")  # ASCII digits only: other digits are not look-alikes
_LETTER = re.compile(r"[^\W\d_]")
_ALNUM = re.compile(r"[^\W_]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def fold(text: str) -> str:
    """Text as the matcher sees it: NFKC, invisible characters dropped, accents stripped,
    case folded and look-alike letters mapped to Latin ones."""
    if text.isascii():  # the common case: nothing to normalise, strip or map
        return text.lower()
    text = text.translate(_COMMON_INVISIBLE)  # at C speed; the rest one by one below
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    # Only non-ASCII characters can be marks, format characters or fillers.
    kept = _NON_ASCII.sub(_drop_invisible, decomposed)
    # NFKC again: stripping marks can leave compatibility characters behind.
    # Unicode's confusables (bot/text.py) first, then this module's own rules (Greek ε → e).
    return (
        unicodedata.normalize("NFKC", kept)
        .casefold()
        .translate(latin_twins())
        .translate(_LOOKALIKES)
    )


def _drop_invisible(match: re.Match[str]) -> str:
    c = match.group()
    if c in _INVISIBLE_FILLERS or unicodedata.category(c) in _INVISIBLE_CATEGORIES:
        return ""
    return c


def words(text: str) -> tuple[str, ...]:
    """The folded words of a text, in order; punctuation and spaces separate them."""
    folded = fold(text)
    if _LEET_CHARS.search(folded) is None:  # no digits or signs: the words are as they are
        return tuple(_PLAIN_WORD.findall(folded))
    found: list[str] = []
    for word in _WORD_WITH_SIGNS.findall(folded):
        if _LEET_CHARS.search(word) is None:
            found.append(word)  # the common case: letters only, or a number
        elif _LETTER.search(word) is not None:
            found.append(word.translate(_LEET))
        else:
            found.extend(w for w in _WORD.findall(word) if _ALNUM.search(w))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Blocklist:
    """A guild's blocked words and phrases, ready to match.

    `find` returns the phrase as the moderator wrote it, for the refusal message. A phrase
    matches when its words appear consecutively as whole words of the text (so a blocked "ass"
    never refuses "class"), whatever separates them.
    """

    phrases: tuple[str, ...] = ()
    _index: dict[str, list[tuple[tuple[str, ...], str]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, phrases: Iterable[str]) -> Blocklist:
        index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        kept = []
        for phrase in phrases:
            key = words(phrase)
            if key:
                index.setdefault(key[0], []).append((key, phrase))
                kept.append(phrase)
        return cls(tuple(kept), index)

    def find(self, text: str) -> str | None:
        """The first blocked phrase the text contains, as it was added, or None."""
        if not self._index:
            return None
        seen = words(text)
        for start, word in enumerate(seen):
            for key, phrase in self._index.get(word, ()):
                if seen[start : start + len(key)] == key:
                    return phrase
        return self._find_spelled_out(seen)

    def _find_spelled_out(self, seen: tuple[str, ...]) -> str | None:
        """A blocked word spelled one letter at a time ("g o r e", "g.o.r.e"): a stretch of
        single-letter words is read as one word (after a leading "a" or "i", which are words)."""
        singles = [i for i, word in enumerate(seen) if len(word) == 1]
        start = 0
        for end in range(1, len(singles) + 1):
            if end < len(singles) and singles[end] == singles[end - 1] + 1:
                continue  # the stretch goes on
            run = [seen[i] for i in singles[start:end]]
            start = end
            heads = (run, run[1:]) if run[0] in ("a", "i") else (run,)
            for letters in heads:
                if len(letters) >= 2:
                    for key, phrase in self._index.get("".join(letters), ()):
                        if len(key) == 1:
                            return phrase
        return None


def phrase_key(phrase: str) -> str:
    """The canonical form of a phrase: two phrases with the same key block the same texts."""
    return " ".join(words(phrase))


def split_phrases(text: str) -> list[str]:
    """A moderator's comma-separated input as phrases, trimmed, empty ones dropped."""
    return [" ".join(p.split()) for p in drop_controls(text).split(",") if p.strip()]
