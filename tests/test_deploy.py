"""The Docker image and compose file (no Docker engine needed): pins, user, health, stop grace."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

from bot.jobs.lifecycle import DELIVERY_GRACE_SECONDS, SETTLE_GRACE_SECONDS, STOP_GRACE_SECONDS

ROOT = Path(__file__).resolve().parent.parent
# What a clean stop may take: in-flight calls, admissions and settlement writes, deliveries
# (bot/jobs/lifecycle.py), plus a few seconds to close the gateway and the database.
CLEAN_STOP_SECONDS = STOP_GRACE_SECONDS + 2 * SETTLE_GRACE_SECONDS + DELIVERY_GRACE_SECONDS + 4


def _dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"write durations in seconds: {duration}"
    return float(match.group(1))


def test_every_base_image_is_pinned_to_a_debian_release() -> None:
    bases = [line.split()[1] for line in _dockerfile() if line.startswith("FROM ")]
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.\d+(\.\d+)?-slim-(bookworm|trixie)", base), base


def test_dependencies_come_from_the_lock_file_and_cover_pyproject() -> None:
    installs = [line for line in _dockerfile() if "pip install" in line]
    assert installs and all("-r requirements.lock" in line for line in installs)
    locked = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            locked[re.sub(r"[-_.]+", "-", name).lower()] = version
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for requirement in pyproject["project"]["dependencies"]:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in locked, f"{name} is not locked"


def test_the_image_runs_as_a_numeric_user_and_checks_readiness() -> None:
    lines = _dockerfile()
    [user] = [line for line in lines if line.startswith("USER ")]
    assert re.fullmatch(r"USER [1-9]\d*(:\d+)?", user), "a numeric, non-root user"
    [health] = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert "--start-period=" in health and "bot.ops.probe" in health
    env = " ".join(line for line in lines if line.startswith("ENV "))
    assert "HTTP_PORT=8080" in env


def test_the_build_context_leaves_out_secrets_and_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", "data/", ".git"} <= set(ignored)


def test_compose_runs_one_process_with_a_stop_grace_that_fits_a_clean_stop() -> None:
    bot = _compose()["services"]["bot"]
    assert _seconds(str(bot["stop_grace_period"])) >= CLEAN_STOP_SECONDS
    assert bot["restart"] == "unless-stopped"
    assert "bot-data:/data" in bot["volumes"]
    assert bot["environment"]["HTTP_PORT"] == "8080"
    assert all(str(p).startswith("127.0.0.1:") for p in bot["ports"]), "metrics stay on loopback"
    check = bot["healthcheck"]
    assert "bot.ops.probe" in check["test"] and _seconds(check["start_period"]) >= 30


def test_the_readme_gives_the_same_grace_as_compose() -> None:
    grace = int(_seconds(str(_compose()["services"]["bot"]["stop_grace_period"])))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"docker stop -t {grace}" in readme
    assert f"stop_grace_period: {grace}s" in readme


# ---- compose.postgres.yaml: PostgreSQL and two bot processes, one shard each -----------------


def _cluster_compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.postgres.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _bots(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "SHARD_IDS" in s["environment"]}


def _interpolated(value: str, password: str) -> str:
    """Compose's `${NAME:?message}` substitution, for POSTGRES_PASSWORD."""
    return re.sub(r"\$\{POSTGRES_PASSWORD(:\?[^}]*)?\}", password, value)


def test_postgres_compose_runs_postgresql_15_with_a_volume_and_a_health_check() -> None:
    compose = _cluster_compose()
    db = compose["services"]["postgres"]
    assert db["image"] == "postgres:15"
    [volume] = db["volumes"]
    name, _, mount = volume.partition(":")
    assert mount == "/var/lib/postgresql/data" and name in compose["volumes"]
    assert "pg_isready" in db["healthcheck"]["test"]
    password = db["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD:?"), "the password comes from .env, unset fails"
    assert "ports" not in db, "the database stays on compose's network"
    options = dict(arg.split("=", 1) for arg in db["command"] if "=" in arg)
    idle, interval, count = (
        int(options[f"tcp_keepalives_{k}"]) for k in ("idle", "interval", "count")
    )
    assert idle + interval * count <= 30, "a vanished host's lease is freed within half a minute"


def test_postgres_compose_runs_two_processes_that_share_the_database_and_split_the_shards() -> None:
    from bot.settings import load_settings

    bots = _bots(_cluster_compose())
    assert len(bots) == 2
    shards: list[int] = []
    urls = set()
    for bot in bots.values():
        env = {k.lower(): _interpolated(str(v), "s3cret") for k, v in bot["environment"].items()}
        settings = load_settings(env_file=None, discord_token="t", openai_api_key="k", **env)
        assert settings.shard_count == 2 and settings.shards is not None
        shards.extend(settings.shards)
        assert settings.database_url is not None
        urls.add(settings.database_url.get_secret_value())
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert sorted(shards) == [0, 1], "every shard runs in exactly one process"
    assert urls == {"postgresql://imagebot:s3cret@postgres:5432/imagebot"}


def test_postgres_compose_builds_the_image_once_and_leaves_no_anonymous_volumes() -> None:
    bots = _bots(_cluster_compose())
    builders = [name for name, bot in bots.items() if "build" in bot]
    assert len(builders) == 1, f"one service builds the image, not each: {builders}"
    assert len({bot["image"] for bot in bots.values()}) == 1, "every process runs that image"
    for name, bot in bots.items():
        if name not in builders:
            assert bot["pull_policy"] == "never", "a local tag is in no registry: never pull it"
        # The image declares VOLUME /data: without a mount there, every container made leaves an
        # anonymous volume. With DATABASE_URL nothing lasting is kept in DATA_DIR: a tmpfs.
        data_dir = bot["environment"]["DATA_DIR"]
        assert data_dir in [str(mount).split(":")[0] for mount in bot["tmpfs"]], name
        assert "volumes" not in bot, name


def test_postgres_compose_keeps_the_stop_grace_health_and_loopback_ports_of_compose_yaml() -> None:
    single = _compose()["services"]["bot"]
    ports: list[str] = []
    for bot in _bots(_cluster_compose()).values():
        assert bot["stop_grace_period"] == single["stop_grace_period"]
        assert _seconds(str(bot["stop_grace_period"])) >= CLEAN_STOP_SECONDS
        assert bot["restart"] == "unless-stopped"
        assert bot["healthcheck"] == single["healthcheck"]
        assert all(str(p).startswith("127.0.0.1:") for p in bot["ports"]), "metrics on loopback"
        ports.extend(str(p).split(":")[1] for p in bot["ports"])
    assert len(ports) == len(set(ports)) == 2, "each process its own host port"
