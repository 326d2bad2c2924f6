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


def test_the_queue_is_paced_as_the_providers_profile_says() -> None:
    from bot.app import _paced
    from bot.jobs.wiring import QueueSettings
    from bot.provider.profiles import load_profile
    from bot.settings import load_settings

    settings = load_settings(env_file=None, discord_token="t", openai_api_key="k")
    queue = QueueSettings.from_settings(settings)
    assert _paced(queue, load_profile("openai", ""), settings) == queue  # the tier's IPM/TPM
    fal = _paced(queue, load_profile("fal", ""), settings)
    assert fal.max_in_flight == 2 and fal.ipm > queue.ipm  # N at once, not per minute
    none = _paced(queue, load_profile("lumenfall", ""), settings)
    assert none.ipm > queue.ipm and none.max_in_flight == queue.max_in_flight
    capped = load_settings(env_file=None, discord_token="t", openai_api_key="k", openai_ipm=7)
    assert _paced(queue, load_profile("lumenfall", ""), capped).ipm == 7  # the operator's cap
