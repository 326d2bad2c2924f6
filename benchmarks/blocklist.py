"""Blocklist cost at admission: the shipped matcher on the longest prompts and a full blocklist.

Builds a guild blocklist of MAX_PHRASES (500) entries (single words and two-word phrases) and
prints the p50 and p95 time of one check for a typical 200-character prompt and for prompts of
4,000 characters (the longest prompt members may send): plain English, the same in fullwidth
letters with
zero-width spaces, and letters spelled out.

    .venv/bin/python -m benchmarks.blocklist [--runs 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bot.jobs.safety.blocklist import MAX_PHRASES, Blocklist

WORDS = [
    "a",
    "quiet",
    "harbour",
    "at",
    "dawn",
    "with",
    "fishing",
    "boats",
    "and",
    "gulls",
    "over",
    "calm",
    "water",
    "under",
    "a",
    "pale",
    "sky",
    "painted",
    "in",
    "soft",
    "watercolor",
    "with",
    "warm",
    "light",
    "on",
    "the",
    "old",
    "stone",
    "houses",
    "along",
    "the",
    "pier",
]


def blocklist(rng: random.Random) -> Blocklist:
    letters = "abcdefghijklmnopqrstuvwxyz"
    phrases: set[str] = set()
    while len(phrases) < MAX_PHRASES:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
        phrases.add(word if rng.random() < 0.8 else f"{word} {rng.choice(WORDS)}")
    return Blocklist.of(sorted(phrases))


def prompt(rng: random.Random, limit: int = 4000) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < limit:
        words.append(rng.choice(WORDS))
    return " ".join(words)[:limit]


def disguised(text: str) -> str:
    """Fullwidth letters with a zero-width space after every other character."""
    wide = "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in text)
    return "".join(c + ("\u200b" if i % 2 else "") for i, c in enumerate(wide))[:4000]


def timed(matcher: Blocklist, text: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        matcher.find(text)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(13)
    matcher = blocklist(rng)
    plain = prompt(rng)
    cases = {
        "typical 200 characters": prompt(rng, 200),
        "plain 4,000 characters": plain,
        "fullwidth + zero-width": disguised(plain),
        "spelled out (a b c ...)": " ".join(plain.replace(" ", ""))[:4000],
    }
    print(f"blocklist of {len(matcher.phrases)} phrases, {args.runs} runs each")
    for name, text in cases.items():
        p50, p95 = timed(matcher, text, args.runs)
        print(f"  {name:<26} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")


if __name__ == "__main__":
    main()
