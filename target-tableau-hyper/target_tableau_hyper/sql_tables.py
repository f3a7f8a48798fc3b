"""Creating the audit trail's tables in a database other runs may be creating them in at once."""

from __future__ import annotations

import zlib

import sqlalchemy as sa


def create_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """`metadata.create_all`, safe when several runs start together on one PostgreSQL database
    (Meltano schedules on several Airflow workers sharing an audit DB): PostgreSQL's
    `CREATE TABLE IF NOT EXISTS` is not atomic against a concurrent one (the loser fails with a
    duplicate `pg_type` key), so creation runs under a transaction-scoped advisory lock and the
    second run finds the tables there. SQLite serializes writers by itself."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            key = zlib.crc32(",".join(sorted(metadata.tables)).encode())
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        metadata.create_all(conn, checkfirst=True)
