"""Settings: required variables, validation, tier limits, and secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.jobs.wiring import QueueSettings
from bot.settings import load_settings

REQUIRED = {"discord_token": "discord-secret-token", "openai_api_key": "sk-very-secret"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCORD_TOKEN", "OPENAI_API_KEY", "OPENAI_TIER", "OPENAI_IPM", "OPENAI_TPM",
                 "SHARD_COUNT", "SHARD_IDS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_a_missing_token_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, openai_api_key="sk")
    assert caught.value.variable == "DISCORD_TOKEN"
    assert "required" in caught.value.reason


def test_an_invalid_tier_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_TIER", "9")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, **REQUIRED)
    assert caught.value.variable == "OPENAI_TIER"


@pytest.mark.parametrize(
    ("tier", "ipm", "tpm"), [(1, 5, 100_000), (3, 50, 800_000), (5, 250, 8_000_000)]
)
def test_tier_sets_ipm_and_tpm(monkeypatch: pytest.MonkeyPatch, tier: int, ipm: int, tpm: int):
    monkeypatch.setenv("OPENAI_TIER", str(tier))
    settings = load_settings(env_file=None, **REQUIRED)
    assert (settings.ipm, settings.tpm) == (ipm, tpm)


def test_explicit_ipm_and_tpm_override_the_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_IPM", "7")
    monkeypatch.setenv("OPENAI_TPM", "1234")
    settings = load_settings(env_file=None, **REQUIRED)
    assert (settings.ipm, settings.tpm) == (7, 1234)


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DISCORD_TOKEN=from-file\nOPENAI_API_KEY=sk-file\nOPENAI_ORGANIZATION=\n")
    settings = load_settings(env_file=env)
    assert settings.discord_token.get_secret_value() == "from-file"
    assert settings.openai_organization is None


def test_secrets_never_appear_in_the_repr() -> None:
    settings = load_settings(env_file=None, **REQUIRED)
    text = repr(settings) + str(settings)
    assert "discord-secret-token" not in text
    assert "sk-very-secret" not in text


def test_the_admin_key_is_optional_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    assert load_settings(env_file=None, **REQUIRED).openai_admin_key is None
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-very-secret")
    settings = load_settings(env_file=None, **REQUIRED)
    assert settings.openai_admin_key is not None
    assert settings.openai_admin_key.get_secret_value() == "sk-admin-very-secret"
    assert "sk-admin-very-secret" not in repr(settings) + str(settings)


def test_a_missing_catalog_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, model_catalog=tmp_path / "nope.toml", **REQUIRED)
    assert caught.value.variable == "MODEL_CATALOG"


def test_the_job_queue_is_paced_by_the_configured_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_TIER", "3")
    monkeypatch.setenv("OPENAI_IPM", "7")
    monkeypatch.setenv("IMAGE_MODEL", "gpt-image-1")
    queue = QueueSettings.from_settings(load_settings(env_file=None, **REQUIRED))
    assert (queue.ipm, queue.tpm, queue.default_model) == (7, 800_000, "gpt-image-1")


def test_database_url_chooses_postgresql_and_must_be_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(env_file=None, **REQUIRED).database == Path("data/bot.sqlite3")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:pw@db:5432/bot")
    settings = load_settings(env_file=None, **REQUIRED)
    assert settings.database == "postgresql://bot:pw@db:5432/bot"
    assert "pw" not in repr(settings)
    monkeypatch.setenv("DATABASE_URL", "mysql://bot@db/bot")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, **REQUIRED)
    assert caught.value.variable == "DATABASE_URL"


@pytest.mark.parametrize(
    ("count", "ids", "shards"),
    [
        (None, None, None),  # one process, Discord's recommended count
        ("4", None, (0, 1, 2, 3)),
        ("2", "0", (0,)),
        ("2", "1", (1,)),
        ("4", "0,1", (0, 1)),
        ("4", "0-3", (0, 1, 2, 3)),
        ("6", " 0, 2-3 ,5", (0, 2, 3, 5)),
        ("4", "3,1,1", (1, 3)),
    ],
)
def test_shard_ids_take_numbers_and_ranges(
    monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str | None, shards: object
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot@db/bot")  # several processes share it
    for name, value in (("SHARD_COUNT", count), ("SHARD_IDS", ids)):
        if value is not None:
            monkeypatch.setenv(name, value)
    assert load_settings(env_file=None, **REQUIRED).shards == shards


@pytest.mark.parametrize(("count", "ids"), [("2", "1"), ("4", "0,1"), ("4", "0-2")])
def test_some_shards_without_database_url_are_refused_naming_shard_ids(
    monkeypatch: pytest.MonkeyPatch, count: str, ids: str
) -> None:
    monkeypatch.setenv("SHARD_COUNT", count)
    monkeypatch.setenv("SHARD_IDS", ids)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, **REQUIRED)
    assert caught.value.variable == "SHARD_IDS"
    assert "need DATABASE_URL" in caught.value.reason
    monkeypatch.setenv("SHARD_IDS", f"0-{int(count) - 1}")  # all of them: one process, SQLite
    assert load_settings(env_file=None, **REQUIRED).shards == tuple(range(int(count)))


@pytest.mark.parametrize(
    ("count", "ids", "variable", "words"),
    [
        ("2", "2", "SHARD_IDS", "from 0 to 1 (SHARD_COUNT is 2)"),
        ("4", "0-4", "SHARD_IDS", "from 0 to 3"),
        (None, "0", "SHARD_IDS", "needs SHARD_COUNT"),
        ("0", None, "SHARD_COUNT", "greater than or equal to 1"),
        ("0", "0", "SHARD_COUNT", "greater than or equal to 1"),
        ("two", "0", "SHARD_COUNT", "integer"),
        ("4", "a,b", "SHARD_IDS", "like 0,1 or 0-3"),
        ("4", "-1", "SHARD_IDS", "like 0,1 or 0-3"),
        ("4", "0,,1", "SHARD_IDS", "like 0,1 or 0-3"),
        ("4", "1-", "SHARD_IDS", "like 0,1 or 0-3"),
        ("4", "3-1", "SHARD_IDS", "lower id to the higher"),
    ],
)
def test_bad_shard_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str, variable: str, words: str
) -> None:
    for name, value in (("SHARD_COUNT", count), ("SHARD_IDS", ids)):
        if value is not None:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, **REQUIRED)
    assert caught.value.variable == variable
    assert words in caught.value.reason
