"""Several runs creating the audit trail's tables on one fresh PostgreSQL database at once (Meltano
schedules on several workers): every one starts, and the tables exist once."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.publishing import audit_tables
from target_tableau_hyper.sql_tables import create_tables

RUNS = 6


def _together(url: str, create) -> list[BaseException]:
    """`create(engine)` on RUNS threads released at the same moment, each with its own engine."""
    barrier = threading.Barrier(RUNS)
    errors: list[BaseException] = []

    def one() -> None:
        engine = audit.make_engine(url)
        try:
            with engine.connect():  # connected before the barrier: creation itself races
                pass
            barrier.wait()
            create(engine)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=one) for _ in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_creation_on_postgresql(postgres_database, round_):
    errors = _together(postgres_database, lambda engine: (
        create_tables(engine, audit.metadata), create_tables(engine, audit_tables.metadata)))
    assert errors == []
    engine = audit.make_engine(postgres_database)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(audit.metadata.tables) | set(audit_tables.metadata.tables) <= names

