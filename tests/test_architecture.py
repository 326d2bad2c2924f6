"""Whole-codebase rules: the core never imports discord, cogs stay thin, layers and stages hold."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The composition root may import discord (and cogs): it builds the client (cogs/_client.py).
COMPOSITION_ROOT = {"bot/app.py"}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (type-only imports never run)."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_core_does_not_import_discord_or_cogs() -> None:
    offenders = []
    for path in _modules("bot"):
        relative = path.relative_to(ROOT).as_posix()
        if relative in COMPOSITION_ROOT:
            continue
        bad = {
            name
            for name in _imports(path)
            if name.split(".")[0] in {"discord", "cogs", "yarl", "aiohttp"}
        }
        if bad:
            offenders.append(f"{relative}: {sorted(bad)}")
    assert offenders == []


def test_cogs_do_no_sql_http_or_pillow() -> None:
    banned = {
        "aiosqlite",
        "sqlite3",
        "psycopg",
        "httpx",
        "PIL",
        "matplotlib",
        "bot.store",
        "bot.db",
    }
    offenders = []
    for path in _modules("cogs"):
        for name in _imports(path):
            if any(name == b or name.startswith(b + ".") for b in banned):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_extensions_are_exactly_the_public_cog_modules() -> None:
    from bot.app import EXTENSIONS

    public = {
        f"cogs.{path.stem}"
        for path in (ROOT / "cogs").glob("*.py")
        if not path.stem.startswith("_")
    }
    assert set(EXTENSIONS) == public


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for folder in ("bot", "cogs")
        for path in _modules(folder)
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert missing == []


# The core's floors, lowest first: a module imports only from its own floor or the ones below.
# The composition root and the command line sit above them all.
FLOORS: tuple[tuple[str, ...], ...] = (
    (
        "bot.errors",
        "bot.clock",
        "bot.choices",
        "bot.domain",
        "bot.records",
        "bot.settings",
        "bot.db",
        "bot.guild_settings",
        "bot.money",
        "bot.text",
    ),
    ("bot.catalog",),
    ("bot.imaging", "bot.provider"),
    ("bot.store",),
    ("bot.reports", "bot.jobs", "bot.guilds"),
    ("bot.ops",),  # running as a service: watches the jobs' events, reads the store
    ("bot.cluster",),  # several processes: which one dispatches, every queue mirrored
)
TOP = {
    "bot.app",
    "bot.identify",
    "bot.check",
    "bot.reconcile",
    "bot.__main__",
    "bot",
}


def _floor(module: str) -> int:
    for level, prefixes in enumerate(FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return len(FLOORS)


def _package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_core_subpackages_import_only_downwards() -> None:
    offenders = []
    for path in _modules("bot"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module in TOP:
            continue
        assert _floor(module) < len(FLOORS), f"{module} belongs to no floor of FLOORS"
        for name in _imports(path):
            if not name.startswith("bot.") or _package_of(name) == _package_of(module):
                continue
            if _floor(name) > _floor(module) or (
                _floor(name) == _floor(module) and _floor(module) > 0
            ):
                offenders.append(f"{module} -> {name}")
    assert offenders == []


# Inside the jobs floor: the community safety checks need nothing else of the job queue, and
# the relaxed lane and the safety checks never import each other (admission and wiring join them).
JOBS_SUBPACKAGES = {
    "bot.jobs.safety": ("bot.jobs.",),
    "bot.jobs.relaxed": ("bot.jobs.safety",),
}


def test_every_core_folder_is_a_package() -> None:
    # setuptools' packages.find ships only folders with an __init__.py.
    folders = {path.parent for path in _modules("bot")}
    assert (
        sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists()) == []
    )


def test_jobs_subpackages_keep_to_their_lanes() -> None:
    offenders = []
    for package, banned in JOBS_SUBPACKAGES.items():
        paths = _modules(package.replace(".", "/"))
        assert paths, f"{package} has no modules"
        for path in paths:
            for name in _imports(path):
                if name.startswith(package + ".") or name == package:
                    continue
                if any(name.startswith(b) for b in banned):
                    offenders.append(f"{path.relative_to(ROOT)} -> {name}")
    assert offenders == []


# Inside bot/jobs: the shared values (SHARED) import no stage; a stage imports only itself, the
# shared values and the stages before it; the service, its lifecycle and the wiring that builds
# them sit on top. The order is a job's: safety checks, then admission, then its turn in the
# queue; settlement comes before the run because the runner settles what its calls return, and
# the relaxed lane reuses the order, run and settle stages for its Batch API path.
JOBS_SHARED = ("events", "backend", "models", "split", "owners")
JOBS_STAGES: tuple[tuple[str, ...], ...] = (
    ("safety",),
    ("admit",),
    ("order",),
    ("settle",),
    ("run",),
    ("relaxed",),
    ("service",),
    ("lifecycle",),
    ("wiring", "provider_parts"),  # provider_parts: the wiring that depends on the provider
)


def _jobs_stage(module: str) -> int:
    """The stage index of a bot.jobs module: -1 for the shared values and the package itself."""
    parts = module.split(".")
    if len(parts) < 3 or parts[2] in JOBS_SHARED:
        return -1
    for level, names in enumerate(JOBS_STAGES):
        if parts[2] in names:
            return level
    raise AssertionError(f"{module} belongs to no stage of JOBS_STAGES")


def _jobs_offenders() -> list[str]:
    offenders = []
    for path in _modules("bot/jobs"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        own = _jobs_stage(module)
        for name in _imports(path):
            if not name.startswith("bot.jobs.") or _jobs_stage(name) == own:
                continue
            if _jobs_stage(name) > own:
                offenders.append(f"{module} -> {name}")
    return offenders


def test_jobs_stages_import_only_earlier_stages_and_shared_values() -> None:
    assert _jobs_offenders() == []


def test_every_jobs_module_has_a_stage() -> None:
    top = {p.stem for p in (ROOT / "bot/jobs").glob("*.py")} - {"__init__"}
    folders = {p.name for p in (ROOT / "bot/jobs").iterdir() if (p / "__init__.py").exists()}
    staged = {name for names in JOBS_STAGES for name in names}
    assert top | folders == staged | set(JOBS_SHARED)


def test_unit_tests_mirror_the_source() -> None:
    # tests/unit/<path>/test_*.py tests a module of bot/<path>/ (or of cogs/ under tests/unit/cogs,
    # of the loopback fakes tests/fakes/ under tests/unit/fakes).
    unit = ROOT / "tests/unit"
    strays = []
    for path in sorted(unit.rglob("test_*.py")):
        folder = path.parent.relative_to(unit)
        top = folder.parts[:1]
        source = ROOT / folder if top == ("cogs",) else ROOT / "bot" / folder
        if top == ("fakes",):
            source = ROOT / "tests" / folder
        if not source.is_dir() or not (path.parent / "__init__.py").exists():
            strays.append(str(path.relative_to(ROOT)))
            continue
        # test_<module>.py, or test_<module>_<topic>.py for one module's several test files
        stem = path.stem.removeprefix("test_")
        modules = {m.stem.strip("_") for m in source.glob("*.py")} | {
            d.name for d in source.iterdir()
        }
        if not any(stem == m or stem.startswith(m + "_") for m in modules):
            strays.append(str(path.relative_to(ROOT)))
    assert strays == []


# The store's seam (bot/db/): reads take the Database, writes the Transaction it hands out.
# Only bot/db/ holds the connection and names the drivers (SQLite's and PostgreSQL's).
CONNECTION_HOLDERS = ("bot/db/", "bot/store/")
CONNECTION_ATTRIBUTES = {"conn", "_conn"}
DRIVERS = {"aiosqlite", "sqlite3", "psycopg", "psycopg_pool"}


def _reaches_for_the_connection(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in CONNECTION_ATTRIBUTES
    ]


def test_only_the_database_and_the_store_touch_the_connection() -> None:
    offenders = []
    for folder in ("bot", "cogs", "tests", "benchmarks"):
        for path in _modules(folder):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(CONNECTION_HOLDERS):
                continue
            offenders += [f"{relative}:{line}" for line in _reaches_for_the_connection(path)]
    assert offenders == []


def test_only_the_database_module_names_the_driver() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {sorted(bad)}"
        for path in _modules("bot")
        if not path.relative_to(ROOT).as_posix().startswith("bot/db/")
        and (bad := {name for name in _imports(path) if name.split(".")[0] in DRIVERS})
    ]
    assert offenders == []


def test_store_functions_never_open_a_transaction() -> None:
    # The caller owns the transaction, so several writes of one change commit together.
    offenders = []
    for path in _modules("bot/store"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [
            f"{path.relative_to(ROOT)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in {"transaction", "locked"}
        ]
    assert offenders == []


# The fakes play OpenAI and Discord as their documentation says, so they read nothing of the bot:
# a fake that took its rules from the bot's catalog could never disagree with it. The in-process
# stand-ins for the bot's own clients speak the bot's value types and raise its errors, as the
# clients they replace do (and the batch one reads answers with the client's own parser).
FAKE_BOT_IMPORTS = {
    "tests/fakes/image_backend.py": {"bot.clock", "bot.domain", "bot.errors"},
    "tests/fakes/batch_backend.py": {"bot.clock", "bot.provider.batch_wire",
                                     "bot.provider.failures"},
}  # fmt: skip


def test_fakes_import_nothing_of_the_bot_but_the_client_stand_ins_value_types() -> None:
    offenders = []
    for path in _modules("tests/fakes"):
        relative = path.relative_to(ROOT).as_posix()
        allowed = FAKE_BOT_IMPORTS.get(relative, set())
        for name in _imports(path):
            if (name == "bot" or name.startswith("bot.")) and name not in allowed:
                offenders.append(f"{relative}: {name}")
    assert offenders == []
