"""A throwaway PostgreSQL server on loopback, for the tests that need the real one.

PostgreSQL is installed on the CI image but not running (``.ci/run`` installs it
where it is missing). The server is made in a temp dir with ``initdb`` and
started with ``pg_ctl``; ``initdb`` refuses to run as root, so as root both run
as the unprivileged ``postgres`` user (or ``nobody``). Trust authentication on
127.0.0.1 only, a free port, fsync off (a test server), and stopped at the end
of the session. Each test gets its own database.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.support.tools import tool

SUPERUSER = "monitor"


def _bin_dir() -> Path:
    """Debian keeps the server binaries under /usr/lib/postgresql/<major>/bin."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if versions:
        return versions[-1].parent
    return Path(tool("pg_ctl")).parent  # skips (fails in CI) with the fix


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[list[str], str | None]:
    """(prefix for commands, owner of the data dir): as root, the postgres user."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"], user
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) for initdb")


class PostgresServer:
    """A server in a temp dir: ``url`` (admin), ``stop()`` and ``start()`` again (the
    fault tests restart it under a running consumer), ``close()`` removes it."""

    def __init__(self) -> None:
        self._bin = _bin_dir()
        self._prefix, owner = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self._data, self._log = self.root / "data", self.root / "server.log"
        if owner is not None:
            shutil.chown(self.root, owner)
        self.port = _free_port()
        self.url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        subprocess.run(
            [*self._prefix, str(self._bin / "initdb"), "-D", str(self._data), "-U", SUPERUSER,
             "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off"
        subprocess.run(
            [*self._prefix, str(self._bin / "pg_ctl"), "-D", str(self._data), "-l", str(self._log),
             "-o", options, "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        command = [str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", mode, "-w", "stop"]
        subprocess.run([*self._prefix, *command], capture_output=True, timeout=60, check=False)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started server, stopped and removed at the end."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


def fresh_database(admin_url: str) -> str:
    """A new empty database on the server; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
