"""A throwaway PostgreSQL server for the test session: initdb and pg_ctl in a temporary folder."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bot.db.pg_migrations import migrate
from bot.db.postgres import connect

# PostgreSQL refuses to run as root ("root" execution of the PostgreSQL server is not
# permitted, src/backend/main/main.c), so under root the server runs as this user.
SERVER_USER = "imagebot-pg"
ROLE = "imagebot"
TEMPLATE = "imagebot_template"
# Durability is pointless for a server that lives as long as the test run.
FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


class PostgresMissingError(RuntimeError):
    """No PostgreSQL binaries: the PostgreSQL variants fail (.ci/run installs them)."""


def bindir() -> Path:
    """The folder of initdb and pg_ctl: Debian's newest, else wherever pg_ctl is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise PostgresMissingError("no initdb/pg_ctl: apt-get install postgresql (see .ci/run)")


def _major(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


class PostgresServer:
    """One server on a free loopback port; databases made from a migrated template."""

    def __init__(self) -> None:
        self._bin = bindir()
        self._folder = Path(tempfile.mkdtemp(prefix="imagebot-pg-"))
        self._data = self._folder / "data"
        self.port = _free_port()
        self._names = itertools.count(1)

    def start(self) -> None:
        if os.geteuid() == 0:
            _ensure_user(SERVER_USER)
            shutil.chown(self._folder, SERVER_USER)
        self._run("initdb", "-D", str(self._data), "-U", ROLE, "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._folder} {FAST}"
        log = str(self._folder / "server.log")
        self._run("pg_ctl", "-D", str(self._data), "-l", log, "-w", "-o", options, "start")
        self._admin(f"CREATE DATABASE {TEMPLATE}")
        asyncio.run(_migrate(self.url(TEMPLATE)))

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "stop")
        shutil.rmtree(self._folder, ignore_errors=True)

    @property
    def postmaster_pid(self) -> int:
        """The server's main process (its CPU, with its children's, is the server's)."""
        return int((self._data / "postmaster.pid").read_text().split()[0])

    def url(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def new_database(self, *, migrated: bool = True) -> str:
        """A fresh database's URL: migrated (a copy of the template) or empty."""
        name = f"test_{next(self._names)}"
        template = TEMPLATE if migrated else "template0"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.encode())

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self._folder)


async def _migrate(url: str) -> None:
    conn = await connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()


def _ensure_user(name: str) -> None:
    if subprocess.run(["id", "-u", name], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def reset(target: Path | str) -> None:
    """Empty the test's database between hypothesis examples (a SQLite file, or every table of
    a PostgreSQL database but schema_version)."""
    if isinstance(target, Path):
        target.unlink(missing_ok=True)
        return
    with psycopg.connect(target, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_version'"
        ).fetchall()
        names = ", ".join(f'"{name}"' for (name,) in tables)
        conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE".encode())
