"""A throw-away local PostgreSQL cluster for tests.

Server binaries come from PATH (`initdb`, `pg_ctl`) when a PostgreSQL server is installed, else
from the `pgserver` wheel (our `test` extra), which ships them for Linux and macOS: so a fresh
machine with only Python and pip runs the PostgreSQL tests instead of skipping them.
The cluster lives in a temp dir, trusts local connections and listens on 127.0.0.1 with a free port.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
# PostgreSQL refuses to run as root; when we are root the cluster runs as this always-present account.
UNPRIVILEGED_USER = "nobody"


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries on PATH nor in an installed `pgserver` wheel."""


def find_server_bin_dir() -> Path:
    """The folder holding `initdb`, `pg_ctl` and `postgres`: PATH first, then the `pgserver` wheel."""
    on_path = shutil.which("initdb")
    if on_path:
        folder = Path(on_path).resolve().parent  # through /usr/local/bin links to the real install
        if all((folder / name).exists() for name in SERVER_PROGRAMS):
            return folder
    spec = importlib.util.find_spec("pgserver")  # its location only: importing it has side effects
    if spec is not None and spec.submodule_search_locations:
        folder = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
        if all((folder / name).exists() for name in SERVER_PROGRAMS):
            return folder
    msg = ("PostgreSQL server binaries not found: put initdb/pg_ctl on PATH or install the sandbox "
           "package's test extra (pip install -e ./sandbox[test], which brings the pgserver wheel)")
    raise PostgresNotFound(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """A started cluster: `url` is `postgresql://USER@127.0.0.1:PORT/postgres` (superuser, no password)."""

    user = "postgres"

    def __init__(self, bin_dir: Path, base: Path, port: int):
        self.bin_dir, self.base, self.port = bin_dir, base, port
        self.data = base / "data"
        self.log = base / "server.log"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        as_user = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam(UNPRIVILEGED_USER)
            as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        # cwd: the server's own folder, which the unprivileged user can enter
        result = subprocess.run([str(self.bin_dir / program), *args], cwd=self.base, capture_output=True,
                                text=True, check=False, **as_user)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            msg = f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log[-2000:]}"
            raise RuntimeError(msg)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync")
        # the Unix socket goes to our own folder too (the default /var/run/postgresql may not exist)
        self._run("pg_ctl", "-D", str(self.data), "-o", f"-p {self.port} -h 127.0.0.1 -k {self.base} -F",
                  "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        with self._admin_connection() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        with self._admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin_connection(self):
        import psycopg  # the test extra; imported here so finding binaries needs no driver

        return psycopg.connect(self.url, autocommit=True)


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """Start a cluster in a fresh temp dir; stop it and delete its files on exit."""
    bin_dir = find_server_bin_dir()
    # Not pytest's tmp dir: that is 0700 root, which the unprivileged server user cannot enter.
    base = Path(tempfile.mkdtemp(prefix="ml-testing-pg-"))
    cluster = PostgresCluster(bin_dir, base, free_port())
    try:
        if os.geteuid() == 0:
            account = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(base, account.pw_uid, account.pw_gid)
        cluster.start()
        yield cluster
    finally:
        try:
            if (cluster.data / "postmaster.pid").exists():
                cluster.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
