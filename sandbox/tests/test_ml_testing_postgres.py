"""The throw-away PostgreSQL fixtures: both binary sources start a real cluster over TCP."""

from __future__ import annotations

import psycopg
import pytest

from ml_testing import postgres


def _server_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.info.server_version


def test_pgserver_wheel_binaries_run_a_cluster(monkeypatch):
    # What a machine with only Python and pip has: no server on PATH, binaries from the pgserver wheel.
    monkeypatch.setenv("PATH", "/nonexistent")
    bin_dir = postgres.find_server_bin_dir()
    assert bin_dir.parts[-3:] == ("pgserver", "pginstall", "bin")
    with postgres.running_cluster() as cluster:
        assert cluster.url == f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
        assert _server_version(cluster.url) >= 130000  # DROP DATABASE … WITH (FORCE) needs 13+
        base = cluster.base
    assert not base.exists()  # stopped and deleted


def test_no_binaries_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(postgres.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(postgres.PostgresNotFound, match="pip install -e ./sandbox\\[test\\]"):
        postgres.find_server_bin_dir()


def test_postgres_database_is_fresh_and_dropped(postgres_cluster, postgres_database):
    assert postgres_database.startswith(f"postgresql://postgres@127.0.0.1:{postgres_cluster.port}/test_")
    name = postgres_database.rsplit("/", 1)[1]
    with psycopg.connect(postgres_database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE t (x int)")
    postgres_cluster.drop_database(name)
    with psycopg.connect(postgres_cluster.url) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
