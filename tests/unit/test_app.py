"""Start-up stays light: matplotlib is imported when a /usage chart is drawn, not before."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bot.app import EXTENSIONS


def test_the_bot_and_its_cogs_load_without_matplotlib() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, sys
        import bot.app, bot.__main__
        for name in {EXTENSIONS!r}:
            importlib.import_module(name)
        print(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
