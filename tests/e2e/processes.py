"""The environment of a bot started as a child process: this checkout, and the test's own clock."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# libfaketime moves the clock through these (https://github.com/wolfcw/libfaketime#readme);
# a child that dropped them would live on another day than the test and its fakes.
_CLOCK_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_RESET", "DONT_FAKE_MONOTONIC")


def child_env() -> dict[str, str]:
    """PATH, PYTHONPATH (this checkout) and the clock variables, nothing else of the parent's."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    env.update({name: os.environ[name] for name in _CLOCK_VARIABLES if name in os.environ})
    return env
