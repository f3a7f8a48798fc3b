"""PostgreSQL token store (`SELECT … FOR UPDATE`) against a throw-away local PostgreSQL cluster.

`postgres_database` (a fresh database per test) comes from the sandbox package's `ml_testing`
pytest plugin, which finds the server binaries on PATH or in the `pgserver` wheel (test extra).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tap_quickbooks_online.token_store import SqlTokenStore, TokenRecord, open_token_store


def test_postgres_round_trip(postgres_database):
    store = open_token_store(postgres_database)
    assert isinstance(store, SqlTokenStore) and store.engine.dialect.name == "postgresql"
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


def test_postgres_lock_query_is_for_update(postgres_database):
    store = open_token_store(postgres_database)
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


def test_postgres_row_lock_serializes_processes(postgres_database):
    processes, rounds = 3, 15
    children = [
        subprocess.Popen([sys.executable, "-c", COUNTER_SCRIPT, postgres_database, str(rounds)], stderr=subprocess.PIPE)
        for _ in range(processes)
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    # the row did not exist at first: concurrent first inserts and every later update serialized
    assert open_token_store(postgres_database).load("pg-counter").refresh_token == str(processes * rounds)
