"""Provider profiles: every shipped file loads, PROVIDER picks one, and bad files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.provider.base_url import default_base_url, with_base_url
from bot.provider.profiles import SHIPPED, load_profile
from bot.settings import load_settings


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_under_its_own_name(name: str) -> None:
    profile = load_profile(name, "https://example.invalid/v1")
    assert profile.name == name
    assert profile.auth.headers("k")  # a key always travels somewhere


def test_each_dialect_reads_as_its_documentation_says() -> None:
    azure = load_profile("azure", "")
    assert azure.auth.headers("k") == {"api-key": "k"}
    assert azure.urls.path("edit", "my-dep") == "deployments/my-dep/images/edits"
    assert azure.urls.query["api-version"]
    assert azure.features.batch_input_expiry_days >= 14
    assert load_profile("vercel", "").models.upstream("gpt-image-2") == "openai/gpt-image-2"
    assert load_profile("vercel", "").edits.encoding == "json_images"
    lumenfall = load_profile("lumenfall", "")
    assert lumenfall.results.response_format == "b64_json"
    assert lumenfall.results.allows("media.lumenfall.ai")
    assert not lumenfall.results.allows("evil.example")
    assert (lumenfall.costs.source, lumenfall.costs.field) == ("body", "metadata.cost")
    assert load_profile("litellm", "").costs.field == "x-litellm-response-cost"
    fal = load_profile("fal", "")
    assert fal.auth.headers("k") == {"Authorization": "Key k"}
    assert fal.models.upstream("gpt-image-1", "edit") == "fal-ai/gpt-image-1/edit-image"
    assert fal.costs.price("gpt-image-1", "1024x1024", "medium") == 42_000
    assert (fal.pacing.mode, fal.pacing.concurrency) == ("concurrency", 2)
    assert load_profile("openai", "").results.response_format is None


@pytest.mark.parametrize(
    ("base_url", "name"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://myres.openai.azure.com/openai", "azure"),
        ("https://api.lumenfall.ai/openai/v1", "lumenfall"),
        ("https://ai-gateway.vercel.sh/v1", "vercel"),
        ("https://queue.fal.run", "fal"),
        ("http://127.0.0.1:4000/v1", "openai"),
    ],
)
def test_unset_provider_follows_the_base_urls_host(base_url: str, name: str) -> None:
    assert load_profile(None, base_url).name == name


def test_an_operators_file_extends_a_shipped_profile(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'extends = "azure"\nname = "mine"\ntitle = "My Azure"\n'
        '[models.names]\n"gpt-image-1" = "prod-images"\n'
    )
    profile = load_profile(str(path), "")
    assert profile.models.upstream("gpt-image-1") == "prod-images"
    assert profile.auth.header == "api-key"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("this is not toml", "not valid TOML"),
        ('extends = "openai"\n[auth]\nheadr = "x"\n', "unknown key 'headr'"),
        ('extends = "openai"\n[edits]\nencoding = "smoke"\n', "edits.encoding"),
        ('extends = "nobody"\n', "extends"),
        ('extends = "openai"\n[cost.per_image]\n"gpt-image-1" = 1\n', "per_image"),
        ('name = "x"\n', "title"),
        ('extends = "openai"\n[edits]\nmask_convention = "black"\n', "edits.mask_convention"),
        ('extends = "openai"\n[requests]\noutput_formats = ["gif"]\n', "output_formats"),
        ('extends = "openai"\n[requests]\nmax_images = 0\n', "max_images"),
        ('extends = "openai"\n[cost]\nsource = "header"\n', "cost.field"),
        ('extends = "openai"\n[cost]\nsource = "body"\nfield = " "\n', "cost.field"),
        ('extends = "openai"\n[pacing]\nmode = "concurrency"\n', "pacing.concurrency"),
        ('extends = "fal"\n[pacing]\nconcurrency = 0\n', "pacing.concurrency"),
        ('extends = "openai"\nbase_url = "queue.fal.run"\n', "base_url"),
        ('extends = "openai"\n[features]\nbatch_input_expiry_days = 0\n',
         "batch_input_expiry_days"),
        ('extends = "openai"\n[cost]\nsource = "per_image"\n', "cost.per_image"),
        ('extends = "fal"\n[features]\nbatches = true\nbatch_input_expiry_days = 3\n',
         "features.batches"),
        ('extends = "fal"\n[features]\nmoderation = true\n', "features.moderation"),
        ('extends = "openai"\n[cost]\nmarkup_percent = -5\n', "cost.markup_percent"),
        ('extends = "openai"\n[cost]\nmarkup_percent = "5%"\n', "cost.markup_percent"),
    ],
)  # fmt: skip
def test_a_bad_profile_file_is_one_error_naming_provider(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path), "")
    assert caught.value.variable == "PROVIDER"
    assert named in caught.value.reason


def test_a_price_for_a_model_with_a_dot_in_its_name_is_read_whole() -> None:
    fal = load_profile("fal", "")
    assert fal.costs.price("gpt-image-1.5", "1024x1024", "low") == 9_000
    assert fal.costs.price("gpt-image-2", "1024x1024", "low") is None  # billed by tokens


def test_an_unknown_name_or_missing_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown provider 'openrouter'"):
        load_profile("openrouter", "")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_profile("/nowhere/profile.toml", "")


@pytest.mark.parametrize(
    ("provider", "url"),
    [(None, "https://api.openai.com/v1"), ("openai", "https://api.openai.com/v1"),
     ("fal", "https://queue.fal.run"), ("lumenfall", "https://api.lumenfall.ai/openai/v1"),
     ("vercel", "https://ai-gateway.vercel.sh/v1"), ("azure", None), ("litellm", None)],
)  # fmt: skip
def test_each_shipped_profile_has_its_documented_url_or_requires_one(
    provider: str | None, url: str | None
) -> None:
    assert default_base_url(provider) == url


@pytest.mark.parametrize(
    ("provider", "url"),
    [("fal", "https://queue.fal.run"), ("lumenfall", "https://api.lumenfall.ai/openai/v1"),
     ("vercel", "https://ai-gateway.vercel.sh/v1"), ("openai", "https://api.openai.com/v1")],
)  # fmt: skip
def test_an_unset_base_url_is_the_providers_own_never_openais_for_another(
    monkeypatch: pytest.MonkeyPatch, provider: str, url: str
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("PROVIDER", provider)
    assert (
        with_base_url(
            load_settings(env_file=None, discord_token="t", openai_api_key="sk-x")
        ).openai_base_url
        == url
    )


def test_azure_without_a_base_url_is_one_error_naming_openai_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("PROVIDER", "azure")
    with pytest.raises(ConfigError) as caught:
        with_base_url(load_settings(env_file=None, discord_token="t", openai_api_key="sk-x"))
    assert caught.value.variable == "OPENAI_BASE_URL"
    assert caught.value.reason.startswith("must be set with PROVIDER=azure")


def test_a_base_url_the_operator_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER", "azure")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://r.openai.azure.com/openai")
    settings = with_base_url(load_settings(env_file=None, discord_token="t", openai_api_key="k"))
    assert settings.openai_base_url == "https://r.openai.azure.com/openai"


def test_markup_percent_raises_every_reservation_rounded_up(tmp_path: Path) -> None:
    path = tmp_path / "margin.toml"
    path.write_text('extends = "litellm"\n[cost]\nmarkup_percent = 5.5\n')
    costs = load_profile(str(path), "").costs
    assert costs.with_markup(1_000_000) == 1_055_000 and costs.with_markup(1) == 2
    assert load_profile("litellm", "").costs.with_markup(1_000_000) == 1_000_000  # default 0


def test_fal_takes_a_mask_only_on_the_edit_endpoints_that_document_one() -> None:
    fal = load_profile("fal", "")
    assert [m for m in fal.models.edit_names if fal.edits.takes_mask(m)] == [
        "gpt-image-1", "gpt-image-1.5", "gpt-image-2"]  # fmt: skip
    assert "masks on gpt-image-1-mini edits" in fal.lacks()
    assert load_profile("openai", "").edits.takes_mask("gpt-image-1-mini")  # multipart `mask`


def test_an_operators_file_keeps_only_its_own_base_url(tmp_path: Path) -> None:
    bare = tmp_path / "newco.toml"
    bare.write_text('extends = "openai"\nname = "newco"\ntitle = "NewCo"\n')
    assert load_profile(str(bare), "").base_url == ""
    assert default_base_url(str(bare)) is None
    own = tmp_path / "own.toml"
    own.write_text('extends = "openai"\nbase_url = "https://api.newco.example/v1"\n')
    assert default_base_url(str(own)) == "https://api.newco.example/v1"
    assert load_profile("fal", "").base_url == "https://queue.fal.run"  # shipped keep theirs
