"""Through each gateway's dialect (Azure, Lumenfall, Vercel, LiteLLM): /imagine and /edit
deliver the gateway's bytes, the ledger holds the cost the gateway reports (or the estimate,
marked), and a dropped answer stays in doubt, sent once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.catalog.models import load_catalog
from bot.catalog.pricing import estimate
from bot.check import run_check
from bot.domain import ImageOptions
from bot.jobs.relaxed.lane import RelaxedTiming
from bot.money import format_usd
from bot.provider.profiles import load_profile
from bot.reconcile import run_reconcile
from tests.e2e.harness import Harness, harness, png, slash
from tests.e2e.test_markup import circled
from tests.fakes.gateway_dialects import AZURE, DIALECTS, LUMENFALL, VERCEL, Dialect
from tests.fakes.gateway_server import FakeGateway
from tests.fakes.result_hosts import RoutedHosts

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def through(tmp_path: Path, dialect: Dialect) -> AsyncIterator[tuple[Harness, FakeGateway]]:
    async with FakeGateway(dialect) as gw, harness(tmp_path) as h:
        if dialect.result_host:
            h.download_transport = RoutedHosts({dialect.result_host: gw.result_base})
        await h.start_bot(
            openai_base_url=gw.base_url, openai_api_key=SecretStr(gw.api_key), provider=dialect.name
        )
        yield h, gw


def choice_values(h: Harness, command: str, option: str) -> list[Any]:
    """The values Discord offers members for a fixed-value option, as the bot synced it."""
    [synced] = [c for c in h.discord.synced_commands(h.guild) or h.discord.synced_commands()
                if c["name"] == command]  # fmt: skip
    [spec] = [o for o in synced["options"] if o["name"] == option]
    return [c["value"] for c in spec.get("choices", [])]


async def edit(h: Harness, prompt: str, *images: bytes):
    names = ("image", "image2")
    options = {
        n: h.upload(f"{n}.png", data, "image/png") for n, data in zip(names, images, strict=False)
    }
    return await h.discord.slash(
        "edit", {"prompt": prompt, "quality": "low", **options},
        member=h.alice, guild=h.guild, channel=h.channel,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(DIALECTS))
async def test_imagine_and_edit_deliver_the_gateways_images_and_its_cost(
    tmp_path: Path, name: str
) -> None:
    dialect = DIALECTS[name]
    async with through(tmp_path, dialect) as (h, gw):
        result = await h.wait_result(await h.imagine("a lighthouse at dusk", quality="low"))
        assert result.attachments[0].data in gw.images_out
        edited = await h.wait_result(await edit(h, "make it snow", png((64, 64)), png((32, 32))))
        assert edited.attachments[0].data in gw.images_out
        rows = h.ledger()
        assert [r["operation"] for r in rows] == ["generate", "edit"]
        if dialect.cost_field or dialect.cost_header:  # the gateway's own figure, as it said
            assert sum(r["cost_micro_usd"] for r in rows) == gw.reported_micro_usd
            assert {r["billing"] for r in rows} == {"actual"}
            assert all(name in r["price_version"] for r in rows)
        elif not dialect.usage:  # nothing reported: the upper-bound estimate, marked
            assert {r["billing"] for r in rows} == {"estimated"}
        h.discord.assert_no_violations()


async def test_lumenfall_is_asked_for_base64_and_sends_no_url(tmp_path: Path) -> None:
    async with through(tmp_path, LUMENFALL) as (h, gw):
        await h.wait_result(await h.imagine("a kite", quality="low"))
        [sent] = gw.requests
        assert sent.params["response_format"] == "b64_json"  # base64 asked, as Lumenfall allows
        assert gw.downloads == []


async def test_an_operators_profile_file_gets_lumenfalls_url_results_downloaded(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "lumenfall-urls.toml"  # a new file, no code: URLs instead of base64
    mine.write_text('extends = "lumenfall"\nname = "mine"\ntitle = "Mine"\n'
                    '[results]\nresponse_format = ""\n')  # fmt: skip
    async with FakeGateway(LUMENFALL) as gw, harness(tmp_path) as h:
        h.download_transport = RoutedHosts({LUMENFALL.result_host: gw.result_base})
        await h.start_bot(openai_base_url=gw.base_url, openai_api_key=SecretStr(gw.api_key),
                          provider=str(mine))  # fmt: skip
        result = await h.wait_result(await h.imagine("a kite", quality="low"))
        assert result.attachments[0].data in gw.images_out
        assert len(gw.downloads) == 1  # fetched once, at once, from media.lumenfall.ai
        [row] = h.ledger()
        assert row["billing"] == "actual" and row["cost_micro_usd"] == gw.reported_micro_usd


async def test_a_url_result_not_fetched_is_charged_the_cost_the_provider_reported(
    tmp_path: Path,
) -> None:
    """Lumenfall made the image and reported its cost, but its URL is on no allowed host: the
    member is told it was made and charged that cost, not an estimate in doubt."""
    mine = tmp_path / "lumenfall-elsewhere.toml"
    mine.write_text('extends = "lumenfall"\nname = "mine"\ntitle = "Mine"\n'
                    '[results]\nresponse_format = ""\nurl_hosts = ["cdn.example"]\n')  # fmt: skip
    async with FakeGateway(LUMENFALL) as gw, harness(tmp_path) as h:
        h.download_transport = RoutedHosts({LUMENFALL.result_host: gw.result_base})
        await h.start_bot(openai_base_url=gw.base_url, openai_api_key=SecretStr(gw.api_key),
                          provider=str(mine))  # fmt: skip
        handle = await h.imagine("a kite", quality="low")
        told = await handle.wait_original(lambda m: "could not be fetched" in m.content, timeout=15)
        assert "made" in told.content and format_usd(gw.reported_micro_usd) in told.content
        assert "may have" not in told.content.lower()
        assert gw.downloads == [] and len(gw.requests) == 1  # never fetched, never sent again
        [row] = h.ledger()
        assert (row["billing"], row["cost_micro_usd"]) == ("actual", gw.reported_micro_usd)
        assert row["price_version"] == "mine: metadata.cost"
        [job] = h.jobs()
        assert job["charged_micro_usd"] == gw.reported_micro_usd


async def test_azure_takes_the_key_as_api_key_and_names_the_deployment(tmp_path: Path) -> None:
    async with through(tmp_path, AZURE) as (h, gw):
        await h.wait_result(await h.imagine("a harbour", quality="low"))
        [sent] = gw.requests
        assert sent.path == f"/openai/deployments/{h.settings.image_model}/images/generations"
        assert sent.headers["api-key"] == gw.api_key
        assert "Authorization" not in sent.headers


@pytest.mark.parametrize("name", sorted(DIALECTS))
async def test_a_dropped_answer_is_in_doubt_and_sent_once(tmp_path: Path, name: str) -> None:
    async with through(tmp_path, DIALECTS[name]) as (h, gw):
        gw.drop_next = 1
        handle = await h.imagine("a fox in the fog", quality="low")
        await handle.wait_original(lambda m: "may have" in m.content.lower(), timeout=15)
        await asyncio.sleep(0.3)
        assert len(gw.requests) == 1
        [row] = h.ledger()
        assert row["billing"] == "in_doubt" and row["cost_micro_usd"] > 0


async def test_what_a_gateway_lacks_is_refused_by_name_before_anything_is_charged(
    tmp_path: Path,
) -> None:
    async with through(tmp_path, VERCEL) as (h, gw):
        changed = await slash(h, "config", h.mod, "set", relaxed="only")
        assert "Settings updated" in (await changed.wait_original(timeout=5)).content
        handle = await h.imagine("a slow fox", quality="low")  # relaxed by the server's rule
        reply = await h.private_reply(handle)
        assert (
            "relaxed speed needs batches, which Vercel AI Gateway does not offer" in reply.content
        )
        changed = await slash(h, "config", h.mod, "set", relaxed="allowed")
        await changed.wait_original(timeout=5)
        masked = await h.discord.slash(
            "edit", {"prompt": "a hat", "image": h.upload("a.png", png((64, 64)), "image/png"),
                     "mask": h.upload("m.png", png((64, 64), "white"), "image/png")},
            member=h.alice, guild=h.guild, channel=h.channel,
        )  # fmt: skip
        reply = await h.private_reply(masked)
        assert "Vercel AI Gateway takes no mask on edits" in reply.content
        assert gw.requests == [] and h.jobs() == [] and h.ledger() == []


async def test_a_markup_vercels_json_edits_cannot_carry_is_refused_before_anything_is_charged(
    tmp_path: Path,
) -> None:
    """Vercel's edits are JSON `images: [{image_url}]`: a markup would be dropped on the way."""
    async with through(tmp_path, VERCEL) as (h, gw):
        [edit_command] = [c for c in h.discord.synced_commands(h.guild) or
                          h.discord.synced_commands() if c["name"] == "edit"]  # fmt: skip
        assert "markup" not in [o["name"] for o in edit_command["options"]]  # not offered
        services = h.bot.services  # type: ignore[union-attr]
        await services.guilds.update_config(h.guild.id, changed_by=h.mod.id,
                                            default_model="gpt-image-2.6-sunburst")  # fmt: skip
        posted = await h.discord.post_message(h.bob, files=[("cup.png", png((64, 64), "white"))])
        menu = await h.discord.context_menu("Edit image", posted, member=h.alice)
        await menu.wait_modal()
        marked = await h.discord.submit_modal(menu, {
            "Prompt": "make the circled cup blue",
            "Markup (optional)": [h.upload("m.png", circled((64, 64)), "image/png")],
        }, member=h.alice)  # fmt: skip
        reply = await h.private_reply(marked)
        assert "Vercel AI Gateway takes no markup on edits" in reply.content, reply.content
        assert gw.requests == [] and h.jobs() == [] and h.ledger() == []
    assert "markup on edits" in load_profile("vercel", "").lacks()  # listed by `check`
    assert "markup on edits" in load_profile("fal", "").lacks()  # fal documents no markup input


async def test_a_relaxed_job_queued_before_a_switch_to_a_provider_without_batches_ends(
    tmp_path: Path,
) -> None:
    """Queued relaxed under OpenAI, restarted on Vercel (no batches): it can never run, so it
    ends at start-up, unsent, nothing charged, its member told why."""
    async with FakeGateway(VERCEL) as gw, harness(tmp_path) as h:
        h.relaxed = RelaxedTiming(window=60.0, first_poll=0.1, max_poll=1.0)  # still gathering
        await h.start_bot()
        changed = await slash(h, "config", h.mod, "set", relaxed="allowed")
        await changed.wait_original(timeout=5)
        handle = await h.imagine("a slow fox", quality="low", speed="relaxed")
        await handle.wait_original(lambda m: "waiting to join" in m.content, timeout=10)
        await h.stop_bot()
        await h.start_bot(openai_base_url=gw.base_url, openai_api_key=SecretStr(gw.api_key),
                          provider="vercel")  # fmt: skip

        notice = await h.discord.wait_for_message(
            lambda m: f"<@{h.alice.id}>" in m.content and "Job #1 failed" in m.content, timeout=10
        )
        assert "Vercel AI Gateway" in notice.content and "nothing was charged" in notice.content
        [job] = h.jobs()
        assert (job["state"], job["charged_micro_usd"]) == ("failed", 0)
        assert h.ledger() == [] and gw.requests == [] and not h.openai.batches.batches
        result = await h.wait_result(await h.imagine("a quick fox", quality="low"))
        assert result.attachments  # the released reservation holds nothing back


async def test_relaxed_speed_is_not_offered_where_the_provider_has_no_batches(
    tmp_path: Path,
) -> None:
    async with through(tmp_path, VERCEL) as (h, _gw):
        for command in ("imagine", "edit"):
            assert choice_values(h, command, "speed") == ["fast"]
        with pytest.raises(AssertionError, match="'relaxed' is not one of"):
            await h.imagine("a slow fox", speed="relaxed")  # Discord lets no member send it


async def test_screening_without_the_providers_moderation_is_refused_at_config_time(
    tmp_path: Path,
) -> None:
    async with through(tmp_path, VERCEL) as (h, gw):
        for value in ("prompts", "prompts_and_images"):
            changed = await slash(h, "config", h.mod, "set", screening=value)
            said = (await changed.wait_original(timeout=5)).content
            assert "Vercel AI Gateway has no moderation endpoint to screen with" in said, said
        shown = await slash(h, "config", h.mod, "show")
        embed = (await shown.wait_original(timeout=5)).embeds[0]
        assert any(f["name"] == "Screening" and f["value"] == "off" for f in embed["fields"])
        assert gw.requests == []


async def test_azure_has_no_moderation_endpoint_so_screening_is_refused_and_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Azure OpenAI serves no /moderations: screening accepted there would leave every /imagine
    failing "try again in a minute" for good."""
    async with through(tmp_path, AZURE) as (h, gw):
        changed = await slash(h, "config", h.mod, "set", screening="prompts")
        said = (await changed.wait_original(timeout=5)).content
        assert "Azure OpenAI has no moderation endpoint to screen with" in said, said
        result = await h.wait_result(await h.imagine("a harbour", quality="low"))
        assert result.attachments and len(gw.requests) == 1
        code = await run_check(h.settings, online=False, clock=h.clock)
    out = capsys.readouterr().out
    assert code == 0, out
    lacks = next(line for line in out.splitlines() if line.startswith("provider lacks:"))
    assert "moderation (screening)" in lacks


async def test_screening_set_before_a_switch_to_a_provider_without_it_tells_members_why(
    tmp_path: Path,
) -> None:
    """Screening turned on under OpenAI, the bot restarted on Vercel: waiting will not help, so
    the member is told the reason, not "try again in a minute"."""
    async with FakeGateway(VERCEL) as gw, harness(tmp_path) as h:
        await h.start_bot()
        changed = await slash(h, "config", h.mod, "set", screening="prompts")
        assert "Settings updated" in (await changed.wait_original(timeout=5)).content
        await h.stop_bot()
        await h.start_bot(openai_base_url=gw.base_url, openai_api_key=SecretStr(gw.api_key),
                          provider="vercel")  # fmt: skip
        reply = await h.private_reply(await h.imagine("a kite", quality="low"))
        assert "Vercel AI Gateway has no moderation endpoint" in reply.content, reply.content
        assert "try again" not in reply.content.lower()
        assert "nothing was sent or charged" in reply.content
        assert gw.requests == [] and h.ledger() == []


async def test_image_screening_without_image_moderation_is_refused_at_config_time(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "text-moderation.toml"  # a gateway whose moderation judges text only
    mine.write_text('extends = "litellm"\nname = "mine"\ntitle = "Mine"\n'
                    "[features]\nimage_moderation = false\n")  # fmt: skip
    async with harness(tmp_path) as h:
        await h.start_bot(provider=str(mine))
        changed = await slash(h, "config", h.mod, "set", screening="prompts_and_images")
        said = (await changed.wait_original(timeout=5)).content
        assert "Mine cannot moderate images; use screening:prompts" in said, said
        changed = await slash(h, "config", h.mod, "set", screening="prompts")
        assert "Settings updated" in (await changed.wait_original(timeout=5)).content


async def test_azure_offers_no_webp_and_refuses_it_before_anything_is_queued(
    tmp_path: Path,
) -> None:
    async with through(tmp_path, AZURE) as (h, gw):
        for command in ("imagine", "edit"):
            assert choice_values(h, command, "format") == ["png", "jpeg"]
        with pytest.raises(AssertionError, match="'webp' is not one of"):
            await h.imagine("a harbour", format="webp")
        assert "WEBP output" in load_profile("azure", "").lacks()  # listed by check --online
        result = await h.wait_result(await h.imagine("a harbour", quality="low", format="jpeg"))
        assert result.attachments and len(gw.requests) == 1


async def test_a_text_only_moderation_verdict_does_not_count_an_image_as_screened(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.start_bot()
        h.openai.moderation_text_only = True  # judges the words; says nothing of the image
        changed = await slash(h, "config", h.mod, "set", screening="prompts_and_images")
        await changed.wait_original(timeout=5)
        handle = await edit(h, "make it brighter", png(colour="#e60a0a"))
        reply = await h.private_reply(handle)
        assert "nothing was sent or charged" in reply.content
        assert h.openai.image_requests == [] and h.jobs() == []


async def test_check_online_names_the_provider_and_what_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with through(tmp_path, LUMENFALL) as (h, _gw):
        code = await run_check(h.settings, online=True, clock=h.clock)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "provider: Lumenfall (lumenfall)" in out
    assert "rate limits: none (Lumenfall states none)" in out and "images/min" not in out
    lacks = next(line for line in out.splitlines() if line.startswith("provider lacks:"))
    assert "batches (relaxed speed)" in lacks and "organization usage (reconcile)" in lacks
    assert "online: key works" in out  # the key went as the profile says, ids mapped back


async def test_reconcile_says_a_provider_without_organization_usage_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with through(tmp_path, AZURE) as (h, gw):
        settings = h.settings.model_copy(update={"openai_admin_key": SecretStr("sk-admin-x")})
        code = await run_reconcile(settings, days=7, now=h.clock.now())
    err = capsys.readouterr().err
    assert code == 2
    assert "Azure OpenAI has no organization usage API" in err
    assert gw.requests == []


async def test_relaxed_speed_on_azure_keeps_batch_inputs_the_14_days_azure_requires(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h, FakeGateway(AZURE, batches=h.openai) as gw:
        await h.start_bot(openai_base_url=gw.base_url, openai_api_key=SecretStr(gw.api_key),
                          provider="azure")  # fmt: skip
        changed = await slash(h, "config", h.mod, "set", relaxed="allowed")
        await changed.wait_original(timeout=5)
        handle = await h.imagine("a slow fox", quality="low", size="1024x1024", speed="relaxed")
        result = await h.wait_result(handle)
        assert result.attachments
        assert gw.batch_file_expiries and min(gw.batch_file_expiries) >= 14 * 86_400
        assert gw.requests == []  # nothing went through the synchronous endpoints
        [row] = h.ledger()
        assert row["speed"] == "relaxed" and h.jobs()[0]["state"] == "succeeded"


async def test_azures_content_filter_is_a_refusal_charged_nothing(tmp_path: Path) -> None:
    async with through(tmp_path, AZURE) as (h, gw):
        handle = await h.imagine("CONTENT_FILTER a bad idea", quality="low")

        def refusal() -> str | None:
            said = [m.content for m in (handle.record.original, *handle.record.followups) if m]
            return next((text for text in said if "safety system" in text), None)

        told = await h.discord.wait_until(refusal, 10, "the refusal")
        assert "nothing was charged" in told and "may have" not in told.lower()
        assert len(gw.requests) == 1 and gw.served == []
        assert sum(row["cost_micro_usd"] for row in h.ledger()) == 0


async def test_a_gateway_billing_above_its_reservation_warns_once_naming_markup_percent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """LiteLLM reports a cost above what was reserved (a margin over OpenAI's list): the operator
    is told once a day per model which profile field holds budgets, without the key."""
    async with through(tmp_path, DIALECTS["litellm"]) as (h, gw):
        gw.cost_per_image_usd = "0.5"
        for _ in range(2):
            await h.wait_result(await h.imagine("a kite", quality="low", size="1024x1024"))
    told = [r.getMessage() for r in caplog.records if "markup_percent" in r.getMessage()]
    assert len(told) == 1, told
    assert "litellm" in told[0] and "gpt-image-2" in told[0] and gw.api_key not in told[0]
    assert [r["cost_micro_usd"] for r in h.ledger()] == [500_000, 500_000]


async def test_markup_percent_holds_a_budget_against_a_gateways_margin(tmp_path: Path) -> None:
    """With `[cost] markup_percent = 100` each job reserves twice OpenAI's list: a daily budget
    of 1.5 times the plain estimate refuses the job before anything is sent (nothing spent),
    where the gateway's doubled bill would have overshot it."""
    spec = load_catalog(None).get("gpt-image-2")
    options = ImageOptions(model="gpt-image-2", size="1024x1024", quality="low")
    plain = estimate(spec, options, prompt="a kite", input_sizes=[], requests=1).micro_usd
    mine = tmp_path / "litellm-margin.toml"
    mine.write_text('extends = "litellm"\nname = "margin"\ntitle = "Margin"\n'
                    "[cost]\nmarkup_percent = 100\n")  # fmt: skip
    async with FakeGateway(DIALECTS["litellm"]) as gw, harness(tmp_path) as h:
        await h.start_bot(openai_base_url=gw.base_url, openai_api_key=SecretStr(gw.api_key),
                          provider=str(mine))  # fmt: skip
        quota = await slash(h, "quota", h.mod, "set", guild_daily_usd=plain * 1.5 / 1_000_000)
        await h.private_reply(quota)
        refusal = await h.private_reply(await h.imagine("a kite", quality="low", size="1024x1024"))
        assert "budget" in refusal.content.lower()
        await asyncio.sleep(0.2)
        assert gw.requests == [] and h.ledger() == []
