"""`python -m bot` runs the bot; `check [--online [--generate]]`, `reconcile`, `backup PATH`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bot.db.urls import url_secrets
from bot.errors import BotError, ConfigError, UnreachableError
from bot.ops.logs import configure_logging, error_line
from bot.provider.base_url import with_base_url
from bot.settings import BackupSettings, Settings, load_settings

EXIT_OK, EXIT_PROBLEM, EXIT_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="validate settings, database and model catalog")
    check.add_argument("--online", action="store_true", help="also ask the API's /models")
    check.add_argument(
        "--generate",
        action="store_true",
        help="with --online: one real image call, the cheapest (its cost is printed first)",
    )
    rec = sub.add_parser(
        "reconcile", help="compare the ledger with the organization's usage and costs"
    )
    rec.add_argument("--days", type=_days, default=7, help="UTC days, today included (7)")
    backup = sub.add_parser("backup", help="copy the SQLite database consistently, even live")
    backup.add_argument("path", help="the copy's file name, or a folder for it (ending in /)")
    args = parser.parse_args(argv)
    if args.command == "backup":
        return _backup(args.path)
    try:
        settings = with_base_url(load_settings())  # unset: PROVIDER's own URL
    except ConfigError as exc:
        fmt = os.environ.get("LOG_FORMAT", "").lower()  # the settings themselves failed
        _fail(f"configuration error: {exc.line}", fmt)
        return EXIT_CONFIG
    _configure_logging(settings)
    if args.command == "check":
        from bot.check import run_check

        online = args.online or args.generate
        return asyncio.run(run_check(settings, online=online, generate=args.generate))
    if args.command == "reconcile":
        from bot.reconcile import run_reconcile

        return asyncio.run(run_reconcile(settings, days=args.days))
    return _run_bot(settings)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= 366:
        raise argparse.ArgumentTypeError(f"must be a whole number of days from 1 to 366: {text}")
    return days


def _run_bot(settings: Settings) -> int:
    from bot.app import loop_factory, run

    fmt = settings.log_format
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(run(settings))
    except ConfigError as exc:
        _fail(f"configuration error: {exc.line}", fmt)
        return EXIT_CONFIG
    except UnreachableError as exc:
        _fail(f"error: {exc}", fmt)
        return EXIT_CONFIG
    except BotError as exc:
        _fail(f"error: {exc}", fmt)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _backup(path: str) -> int:
    from bot.clock import SystemClock
    from bot.ops.backup import BackupError, backup_database

    found = BackupSettings(_env_file=Path(".env"))  # type: ignore[call-arg]  # pydantic-settings init kwarg
    if found.database_url is not None:
        # PostgreSQL has its own consistent, online copy; this command copies SQLite's file.
        msg = "DATABASE_URL is set: back PostgreSQL up with pg_dump -Fc (this copies SQLite only)"
        print(f"error: {msg}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    source = found.database_path
    # Path() drops a trailing separator: "backups/" (a folder to create) must not become a file.
    folder = path.endswith(("/", os.sep))
    try:
        done = backup_database(source, Path(path), SystemClock().now(), folder=folder)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_PROBLEM
    print(f"backed up {source} to {done.path} ({done.bytes:,} bytes)")  # noqa: T201
    return EXIT_OK


def _fail(text: str, fmt: str) -> None:
    print(error_line(text, fmt), file=sys.stderr)  # noqa: T201


def _configure_logging(settings: Settings) -> None:
    secrets = [settings.discord_token, settings.openai_api_key, settings.openai_admin_key]
    hidden = [s.get_secret_value() for s in secrets if s is not None]
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        hidden += [url, *url_secrets(url)]
    configure_logging(settings.log_level, settings.log_format, hidden)


if __name__ == "__main__":
    sys.exit(main())
