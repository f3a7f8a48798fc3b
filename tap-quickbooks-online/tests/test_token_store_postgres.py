"""PostgreSQL token store (`SELECT … FOR UPDATE`) against a throw-away local PostgreSQL cluster.

`postgres_database` (a fresh database per test) comes from the sandbox package's `ml_testing`
pytest plugin, which finds the server binaries on PATH or in the `pgserver` wheel (test extra).
The row lock across processes is tested with the other stores in test_token_store.py.
"""

from __future__ import annotations

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
