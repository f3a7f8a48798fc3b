"""PostgreSQL token store (`SELECT … FOR UPDATE`) against a throw-away local PostgreSQL cluster.

Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`) on PATH and psycopg 3 (the tap's
`postgres` extra). The cluster lives in a temp dir, listens on 127.0.0.1 with a free port, and is
stopped at the end of the module.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tap_quickbooks_online.token_store import SqlTokenStore, TokenRecord, open_token_store

pytestmark = pytest.mark.skipif(
    shutil.which("initdb") is None or shutil.which("pg_ctl") is None, reason="PostgreSQL server binaries not installed"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg")
    # Not under pytest's tmp dir: that is 0700 root, which the postgres user cannot traverse.
    base = Path(tempfile.mkdtemp(prefix="tap-qbo-pg-"))
    data = base / "data"
    # PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, "initdb", "-D", str(data), "-A", "trust", "-U", "tokens"], check=True,
                   capture_output=True)
    subprocess.run([*prefix, "pg_ctl", "-D", str(data), "-o", f"-p {port} -k {base} -h 127.0.0.1",
                    "-l", str(base / "log"), "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://tokens@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_round_trip(postgres_url):
    store = open_token_store(postgres_url)
    assert isinstance(store, SqlTokenStore) and store.engine.dialect.name == "postgresql"
    store.delete("pg-1")
    with store.locked("pg-1") as locked:
        assert locked.record is None  # the placeholder row that carries the lock is invisible
        record = TokenRecord("pg-1", refresh_token="RT-pg-aaaaaaaaaaaa", access_token="AT-pg-aaaaaaaa",
                             access_token_expires_at=123.0)
        record.remember(record.refresh_token)
        locked.save(record)
    loaded = store.load("pg-1")
    assert loaded.refresh_token == "RT-pg-aaaaaaaaaaaa" and loaded.knows("RT-pg-aaaaaaaaaaaa")
    assert "pg-1" in store.realm_ids()
    store.delete("pg-1")
    assert store.load("pg-1") is None


def test_postgres_lock_query_is_for_update(postgres_url):
    store = open_token_store(postgres_url)
    statements: list[str] = []
    import sqlalchemy as sa

    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *a: statements.append(statement))
    with store.locked("pg-2"):
        pass
    assert any("FOR UPDATE" in s for s in statements)
    assert any("ON CONFLICT" in s for s in statements)


COUNTER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from tap_quickbooks_online.token_store import open_token_store, TokenRecord
    store = open_token_store(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        with store.locked("pg-counter") as locked:
            record = locked.record or TokenRecord("pg-counter", refresh_token="0")
            value = int(record.refresh_token)
            time.sleep(0.002)
            record.refresh_token = str(value + 1)
            locked.save(record)
    """
)


def test_postgres_row_lock_serializes_processes(postgres_url):
    open_token_store(postgres_url).delete("pg-counter")
    processes, rounds = 3, 15
    children = [
        subprocess.Popen([sys.executable, "-c", COUNTER_SCRIPT, postgres_url, str(rounds)], stderr=subprocess.PIPE)
        for _ in range(processes)
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    # the row did not exist at first: concurrent first inserts and every later update serialized
    assert open_token_store(postgres_url).load("pg-counter").refresh_token == str(processes * rounds)
