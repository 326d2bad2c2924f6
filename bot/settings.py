"""Deploy-time settings from the environment (and a .env file), validated once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.db.urls import url_problem
from bot.errors import ConfigError

# Images per minute and tokens per minute by usage tier, identical for every GPT Image model
# (docs/sources.md#rate-limits).
TIER_LIMITS: Mapping[int, tuple[int, int]] = {
    1: (5, 100_000),
    2: (20, 250_000),
    3: (50, 800_000),
    4: (150, 3_000_000),
    5: (250, 8_000_000),
}
# Requests per minute of omni-moderation-latest by usage tier (docs/sources.md#moderation-limits,
# from the model's page); screening paces itself by these, apart from the images limits.
MODERATION_RPM: Mapping[int, int] = {1: 500, 2: 500, 3: 1_000, 4: 2_000, 5: 5_000}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


class Settings(BaseSettings):
    """Everything an operator sets in the environment; the README lists the names (Environment)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    discord_token: SecretStr
    openai_api_key: SecretStr
    openai_base_url: str = "https://api.openai.com/v1"
    openai_organization: str | None = None
    openai_project: str | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    database_path: Path = Path("data/bot.sqlite3")
    # PostgreSQL, which several bot processes can share; the URL may hold a password.
    database_url: SecretStr | None = None
    # How long a DATABASE_URL that does not answer is retried at start-up (PostgreSQL may be
    # starting beside the bot).
    database_wait_seconds: float = Field(default=60.0, ge=0)
    # Discord shards (README "Several processes"): the total, and this process's ids ("0,1",
    # "0-3", "0,2-3"); unset: one process runs every shard, as many as Discord recommends.
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: str | None = None
    data_dir: Path = Path("data")
    image_model: str = "gpt-image-2"
    openai_tier: int = Field(default=1, ge=1, le=5)
    openai_ipm: int | None = Field(default=None, gt=0)
    openai_tpm: int | None = Field(default=None, gt=0)
    model_catalog: Path | None = None
    dev_guild_id: int | None = Field(default=None, gt=0)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Health and metrics over HTTP (bot/ops/server.py): off unless a port is set; loopback by
    # default, since /metrics names guilds and their budgets.
    http_port: int | None = Field(default=None, ge=1, le=65535)
    http_host: str = "127.0.0.1"
    result_retention_days: int = Field(default=30, ge=1)
    # Read only by `python -m bot reconcile`; an organization admin key (sk-admin-...).
    openai_admin_key: SecretStr | None = None
    # How to speak to OPENAI_BASE_URL (README "Providers"): a shipped profile's name or a
    # TOML file's path; the composition root reads it once (bot/provider/profiles.py).
    provider: str | None = None
    # Who runs and pays for the bot; unset: the application's owner or team (asked at log-in).
    operator_ids: str | None = None
    # Which guilds are served: "operators", "all", or comma-separated guild ids.
    guilds: str = "operators"
    account_daily_usd: float | None = Field(default=None, gt=0)
    account_monthly_usd: float | None = Field(default=None, gt=0)

    @field_validator("database_url")
    @classmethod
    def _is_postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(POSTGRESQL_SCHEMES):
            raise ValueError("must be a postgresql:// URL")
        problem = None if value is None else url_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(f"is not a PostgreSQL URL libpq reads: {problem}")
        return value

    @field_validator("shard_ids")
    @classmethod
    def _are_shards(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "shard_count" not in info.data:
            return value  # SHARD_COUNT itself was refused: that is the line to show
        count = info.data["shard_count"]
        if count is None:
            raise ValueError("needs SHARD_COUNT, the total number of shards, set as well")
        if max(high for _, high in _shard_ranges(value)) >= count:
            raise ValueError(f"must be shard ids from 0 to {count - 1} (SHARD_COUNT is {count})")
        lone = "database_url" in info.data and info.data["database_url"] is None
        if lone and _shard_ids(value) != list(range(count)):
            # Each process on its own SQLite file would count its own budgets and IPM.
            raise ValueError(
                f"runs only some of the {count} shards: the processes that run the others need"
                " DATABASE_URL, one PostgreSQL database they share (own SQLite files would"
                " multiply the budgets and the images per minute)"
            )
        return value

    @property
    def shards(self) -> tuple[int, ...] | None:
        """This process's shard ids (SHARD_IDS), or every shard of SHARD_COUNT; None: all of
        Discord's recommended count."""
        if self.shard_ids is not None:
            return tuple(_shard_ids(self.shard_ids))
        return None if self.shard_count is None else tuple(range(self.shard_count))

    @property
    def database(self) -> Path | str:
        """Where the store lives: DATABASE_URL when set, else the SQLite file DATABASE_PATH."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.database_path

    @field_validator("discord_token", "openai_api_key")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("openai_base_url", "discord_api_base", "discord_gateway_url")
    @classmethod
    def _is_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value.rstrip("/") if value.startswith("http") else value

    @field_validator("operator_ids")
    @classmethod
    def _are_ids(cls, value: str | None) -> str | None:
        if value is not None:
            _ids(value)
        return value

    @field_validator("guilds")
    @classmethod
    def _is_guilds(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("operators", "all"):
            _ids(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _is_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("model_catalog")
    @classmethod
    def _catalog_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def ipm(self) -> int:
        """Images per minute in force: OPENAI_IPM, else the tier's."""
        return self.openai_ipm or TIER_LIMITS[self.openai_tier][0]

    @property
    def tpm(self) -> int:
        """Tokens per minute in force: OPENAI_TPM, else the tier's."""
        return self.openai_tpm or TIER_LIMITS[self.openai_tier][1]

    @property
    def operators(self) -> frozenset[int] | None:
        """OPERATOR_IDS as ids; None: the application's owner or team decides."""
        return None if self.operator_ids is None else frozenset(_ids(self.operator_ids))

    @property
    def guild_ids(self) -> frozenset[int] | None:
        """GUILDS as a list of ids; None for `operators` and `all`."""
        return None if self.guilds in ("operators", "all") else frozenset(_ids(self.guilds))

    @property
    def account_daily_micro_usd(self) -> int:
        """ACCOUNT_DAILY_USD in micro-USD; 0 = no ceiling."""
        return round((self.account_daily_usd or 0) * 1_000_000)

    @property
    def account_monthly_micro_usd(self) -> int:
        """ACCOUNT_MONTHLY_USD in micro-USD; 0 = no ceiling."""
        return round((self.account_monthly_usd or 0) * 1_000_000)

    @property
    def moderation_rpm(self) -> int:
        """Moderation requests per minute of the tier (screening's own pacing)."""
        return MODERATION_RPM[self.openai_tier]


def _ids(text: str) -> list[int]:
    """Comma-separated Discord ids (snowflakes); anything else is refused."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise ValueError("must be Discord ids (numbers), separated by commas")
    return [int(part) for part in parts]


def _shard_ranges(text: str) -> list[tuple[int, int]]:
    """SHARD_IDS as (first, last) ranges: numbers and ranges ("0,1", "0-3", "0,2-3")."""
    ranges = []
    for part in (part.strip() for part in text.split(",")):
        first, dash, last = (piece.strip() for piece in part.partition("-"))
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError("must be shard ids or ranges, like 0,1 or 0-3")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"{part}: a range goes from the lower id to the higher")
        ranges.append((low, high))
    return ranges


def _shard_ids(text: str) -> list[int]:
    """SHARD_IDS (already checked against SHARD_COUNT) as sorted, distinct ids."""
    return sorted({i for low, high in _shard_ranges(text) for i in range(low, high + 1)})


class BackupSettings(BaseSettings):
    """What `backup` needs: where the database is; no tokens (it talks to no one)."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    database_path: Path = Path("data/bot.sqlite3")
    database_url: SecretStr | None = None  # PostgreSQL: `backup` refuses (pg_dump does this)


def load_settings(env_file: Path | None = Path(".env"), **overrides: Any) -> Settings:
    """Build Settings, turning any validation failure into one ConfigError naming the variable."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]  # pydantic-settings init kwarg
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        # pydantic starts a validator's own words with "Value error, ": the line needs only them.
        said = str(first["msg"]).removeprefix("Value error, ")
        reason = "is required but not set" if first["type"] == "missing" else said
        raise ConfigError(variable, reason) from None
