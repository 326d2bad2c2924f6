"""`python -m bot reconcile` after real jobs: the ledger against the fake organization's record."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.reconcile import run_reconcile
from tests.e2e.harness import Harness, harness, png
from tests.e2e.processes import child_env
from tests.e2e.test_relaxed import allow_relaxed
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "sk-admin-test"


async def _scripted_jobs(h: Harness) -> None:
    """Generations on two models, an edit, and a refusal the provider does not bill."""
    for prompt, options in (
        ("a lighthouse at dawn", {"quality": "low"}),
        ("two owls", {"quality": "medium", "count": 2, "model": "gpt-image-2.5-flare"}),
        ("a harbour", {"quality": "low", "model": "gpt-image-2.5-flare", "size": "1536x1024"}),
    ):
        await h.wait_result(await h.imagine(prompt, **options))
    image = h.upload("cat.png", png((256, 256)), "image/png")
    edit = await h.discord.slash(
        "edit",
        {"prompt": "give it a hat", "image": image, "quality": "low"},
        member=h.bob,
        guild=h.guild,
        channel=h.channel,
    )
    await h.wait_result(edit)
    refused = await h.imagine("MODERATION_BLOCK please", quality="low")
    await h.private_notice(refused)


async def _answers_lost_or_without_usage(h: Harness) -> None:
    """A gateway's 504 after the API made the image (in doubt, billed), a dropped connection
    before it did (in doubt, not billed), and an answer without `usage` (charged the estimate)."""
    for fault in ("gateway", "drop"):
        if fault == "gateway":
            h.openai.gateway_page_next(504, after=0.2)
        else:
            h.openai.drop_next()
        handle = await h.imagine("a fox behind a proxy", model="gpt-image-2.5-flare")
        await handle.wait_original(lambda m: "may have been charged" in m.content, timeout=15)
    h.openai.hide_usage = True
    await h.wait_result(await h.imagine("a fox through a gateway", quality="high"))
    h.openai.hide_usage = False


async def run_and_capture(h: Harness, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`reconcile --days 7` in-process against the fake, with the admin key; (exit code, output)."""
    settings = h.settings.model_copy(update={"openai_admin_key": SecretStr(ADMIN_KEY)})
    # Both records keep whole seconds and the window ends before `now`: ask past the last call.
    code = await run_reconcile(settings, days=7, now=h.clock.now() + timedelta(seconds=2))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def test_reconcile_agrees_after_jobs_and_names_images_the_ledger_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await _scripted_jobs(h)
        await h.stop_bot()
        today = h.clock.now().date().isoformat()

        code, out = await run_and_capture(h, capsys)
        assert code == 0, out
        assert "DIFFERS" not in out and out.rstrip().endswith("agree")
        assert f"{today}  gpt-image-2.5-flare" in out
        assert "3/3" in out  # flare: 3 images on both sides
        assert "tolerance: images and requests exact" in out

        await h.start_bot()
        await _answers_lost_or_without_usage(h)
        await h.stop_bot()
        code, out = await run_and_capture(h, capsys)
        assert code == 0, out  # the flare images may or may not be billed: within the range
        assert "3/4" in out and "2 req, 2 img" in out  # flare: 2 in doubt, the provider made 1
        assert "estimated" in out  # gpt-image-2: the answer without usage, an upper bound

        h.openai.add_org_usage("gpt-image-2", 4, quality="low")  # another app, same organization
        code, out = await run_and_capture(h, capsys)
        assert code == 1, out
        assert f"differs: {today} gpt-image-2: images: provider 7, ledger 3" in out
        assert "other apps using the same organization or project" in out
        assert ADMIN_KEY not in out


async def test_reconcile_agrees_after_fast_and_relaxed_jobs_at_the_batch_price(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        await allow_relaxed(h)
        for speed in ("relaxed", "fast", "relaxed"):
            handle = await h.imagine(f"a {speed} heron", quality="medium", speed=speed)
            await h.wait_result(handle)
        await h.stop_bot()
        rows = h.ledger()
        assert sorted(r["speed"] for r in rows) == ["fast", "relaxed", "relaxed"]
        relaxed = [r for r in rows if r["speed"] == "relaxed"]
        # The relaxed rows cost the batch price, half the fast price of the same work.
        assert all(abs(2 * r["cost_micro_usd"] - r["fast_cost_micro_usd"]) <= 2 for r in relaxed)
        spent = sum(r["cost_micro_usd"] for r in rows)

        code, out = await run_and_capture(h, capsys)
        assert code == 0, out
        assert "DIFFERS" not in out and "3/3" in out  # images and requests: all three billed
        usd = f"${spent / 1_000_000:,.4f}"
        assert f"{usd}/{usd}" in out  # the organization billed the relaxed lines at batch price


async def _cli(tmp_path: Path, base_url: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "reconcile",
        "--days",
        "3",
        cwd=tmp_path,
        env={
            **child_env(),
            "DISCORD_TOKEN": "unused",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": base_url,
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def test_reconcile_without_an_admin_key_says_so_in_one_line(tmp_path: Path) -> None:
    async with FakeOpenAI(api_key="sk-test") as ai:
        code, out = await _cli(tmp_path, ai.base_url)
    assert code == 2
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and "OPENAI_ADMIN_KEY" in lines[0], out
    assert not [r for r in ai.requests if "organization" in r.path]


async def test_reconcile_with_a_project_key_reports_the_missing_scope(tmp_path: Path) -> None:
    async with FakeOpenAI(api_key="sk-test") as ai:
        code, out = await _cli(tmp_path, ai.base_url, OPENAI_ADMIN_KEY="sk-test")
    assert code == 3, out
    assert "the admin key was refused" in out and "api.usage.read" in out
    assert "Traceback" not in out and "sk-test" not in out


async def test_reconcile_cli_filters_to_the_project_and_agrees_on_an_empty_ledger(
    tmp_path: Path,
) -> None:
    async with FakeOpenAI(api_key="sk-test") as ai:
        # A minute back: the CLI asks for whole seconds up to its own start, which may fall in
        # the same second as a call made just now.
        ai.add_org_usage("gpt-image-2", 5, project="proj_other_app", at=ai.wall_clock() - 60)
        code, out = await _cli(
            tmp_path, ai.base_url, OPENAI_ADMIN_KEY=ADMIN_KEY, OPENAI_PROJECT="proj_bot"
        )
        assert code == 0, out
        assert "the whole project proj_bot" in out
        [usage] = [r for r in ai.requests if r.path.endswith("/usage/images")]
        assert usage.headers["Authorization"] == "[redacted]"
        code, out = await _cli(tmp_path, ai.base_url, OPENAI_ADMIN_KEY=ADMIN_KEY)
    assert code == 1, out
    assert "gpt-image-2: images: provider 5, ledger 0" in out
    assert ADMIN_KEY not in out
