"""SQLite audit rows of this version: written as bound multi-row INSERTs, leaving run_id, batch_id
and stream empty (their batch's id range gives them), indexed by record_key alone. Audit DBs made
by earlier versions (full rows, (stream, record_key) index, batches with or without id ranges)
are migrated in place and read together with the new rows."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.audit_cli import main as audit_main

OLD_RUN = "20250101T000000Z-0ld0ld00"


def _old_db(path) -> str:
    """An audit DB as earlier versions left it: every record row holds its run, batch and stream;
    index (stream, record_key); one batch with an id range, one without (older still)."""
    url = audit.default_url(str(path))
    engine = audit.make_engine(url)
    audit.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_audit_records_key")
        conn.exec_driver_sql("DROP INDEX ix_audit_batches_first_record_id")
        conn.exec_driver_sql("CREATE INDEX ix_audit_records_stream_key ON audit_records (stream, record_key)")
        conn.execute(audit.runs.insert().values(run_id=OLD_RUN, started_at="2025-01-01T00:00:00+00:00",
                                                ended_at="2025-01-01T00:01:00+00:00", status="succeeded",
                                                streams='["invoices", "customers"]', inserted=3, updated=0, deleted=0))
        rows = [  # (batch, stream, key, operation, line)
            ("b-legacy", "invoices", '["r1","1"]', "insert", 2),
            ("b-range", "invoices", '["r1","2"]', "insert", 3),
            ("b-range", "invoices", '["r1","1"]', "superseded", 4),
            ("b-cust", "customers", '["r1","1"]', "insert", 5),  # same key text, other stream
        ]
        for batch, stream, key, op, line in rows:
            conn.execute(audit.records.insert().values(run_id=OLD_RUN, batch_id=batch, stream=stream, record_key=key,
                                                       operation=op, source_updated_at="2025-01-01T00:00:00Z",
                                                       sync_token="0", line=line))
        for batch, stream, first, last in (("b-legacy", "invoices", None, None), ("b-range", "invoices", 2, 3),
                                           ("b-cust", "customers", 4, 4)):
            conn.execute(audit.batches.insert().values(
                batch_id=batch, run_id=OLD_RUN, stream=stream, committed_at=f"2025-01-01T00:00:0{len(batch)}+00:00",
                records=(last - first + 1) if first else 1, inserted=1, updated=0, deleted=0, first_line=2,
                last_line=5, first_record_id=first, last_record_id=last))
    engine.dispose()
    return url


def _indexes(engine: sa.Engine, table: str) -> set[str]:
    return {ix["name"] for ix in sa.inspect(engine).get_indexes(table)}


def _new_run(url: str, tmp_path, run_id: str = "20260101T000000Z-new00000") -> audit.AuditLog:
    log = audit.AuditLog(url, run_id, output_dir=str(tmp_path))
    log.register_stream("invoices", "invoices.hyper", '"Extract"."Extract"')
    log.record_batch(batch_id="b-new", stream="invoices", n_records=2, inserted=0, updated=1, deleted=1,
                     first_line=2, last_line=3,
                     columns=(pa.array(['["r1","1"]', '["r1","2"]']), ["update", "delete"],
                              pa.array(["2026-01-01T00:00:00Z", None]), pa.nulls(2, pa.string()), [2, 3]))
    return log


def test_old_sqlite_db_is_migrated_in_place_and_read_with_new_rows(tmp_path):
    url = _old_db(tmp_path)
    log = _new_run(url, tmp_path)
    engine = log.engine
    assert _indexes(engine, "audit_records") == {"ix_audit_records_key"}
    assert "ix_audit_batches_first_record_id" in _indexes(engine, "audit_batches")
    with engine.connect() as conn:
        # the new rows hold their run, batch and stream: SQL on audit_records keeps its meaning
        raw = conn.execute(sa.select(audit.records).where(audit.records.c.id > 4)).all()
        assert [(r.run_id, r.batch_id, r.stream, r.record_key) for r in raw] == [
            (log.run_id, "b-new", "invoices", '["r1","1"]'), (log.run_id, "b-new", "invoices", '["r1","2"]')]
        history = audit.record_history(conn, "invoices", ['["r1","1"]'], 50)
        assert [(h["run_id"], h["batch_id"], h["operation"], h["line"]) for h in history] == [
            (log.run_id, "b-new", "update", 2),
            (OLD_RUN, "b-range", "superseded", 4),
            (OLD_RUN, "b-legacy", "insert", 2),
        ]
        assert history[0]["committed_at"] >= "2026" and history[1]["committed_at"].startswith("2025")
        assert [h["batch_id"] for h in audit.record_history(conn, "customers", ['["r1","1"]'], 50)] == ["b-cust"]
        assert [h["operation"] for h in audit.record_history(conn, "invoices", ['["r1","1"]'], 1)] == ["update"]
        # the lookup uses the key index and each row's batch, never a scan of the records
        query = str(_history_sql(conn))
        plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query))
        assert "ix_audit_records_key" in plan and "SCAN audit_records" not in plan, plan
        # a run's rows: old (full rows, with and without a range) and new (compact) alike
        old = conn.execute(audit.run_record_rows(conn, OLD_RUN, "invoices")).all()
        assert [(r.run_id, r.batch_id, r.stream, r.record_key, r.operation) for r in old] == [
            (OLD_RUN, "b-legacy", "invoices", '["r1","1"]', "insert"),
            (OLD_RUN, "b-range", "invoices", '["r1","2"]', "insert"),
            (OLD_RUN, "b-range", "invoices", '["r1","1"]', "superseded"),
        ]
        new = conn.execute(audit.run_record_rows(conn, log.run_id)).all()
        assert [(r.run_id, r.batch_id, r.stream, r.record_key, r.operation, r.source_updated_at, r.line)
                for r in new] == [
            (log.run_id, "b-new", "invoices", '["r1","1"]', "update", "2026-01-01T00:00:00Z", 2),
            (log.run_id, "b-new", "invoices", '["r1","2"]', "delete", None, 3),
        ]
    assert audit.changed_keys(engine, log.run_id, "invoices") == {'["r1","1"]': "update", '["r1","2"]': "delete"}
    log.finish()
    log.close()


def _history_sql(conn: sa.Connection) -> str:
    """The SQL record_history runs, with its values inlined (for EXPLAIN QUERY PLAN)."""
    captured = []

    @sa.event.listens_for(conn, "before_cursor_execute")
    def grab(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
        captured.append((statement, parameters))

    audit.record_history(conn, "invoices", ['["r1","1"]'], 50)
    sa.event.remove(conn, "before_cursor_execute", grab)
    statement, parameters = captured[-1]
    for value in parameters:
        statement = statement.replace("?", repr(value) if isinstance(value, str) else str(value), 1)
    return statement


def test_audit_command_reads_an_old_db_as_it_is_and_answers(tmp_path, capsys):
    url = _old_db(tmp_path)
    assert audit_main(["--db", url, "--json", "record", "--stream", "invoices", "--key", "r1,1"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(h["run_id"], h["batch_id"], h["operation"]) for h in history] == [
        (OLD_RUN, "b-range", "superseded"), (OLD_RUN, "b-legacy", "insert")]
    engine = audit.make_engine(url)
    # a read leaves the indexes to runs (no index build under the DB's write lock)
    assert "ix_audit_records_key" not in _indexes(engine, "audit_records")
    engine.dispose()
    # then a run of this version adds rows; the command finds both kinds
    _new_run(url, tmp_path).close()
    assert audit_main(["--db", url, "--json", "record", "--stream", "invoices", "--key", '["r1","2"]']) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(h["batch_id"], h["operation"]) for h in history] == [("b-new", "delete"), ("b-range", "insert")]


def test_audit_command_answers_on_a_read_only_old_db(tmp_path, capsys):
    _old_db(tmp_path)
    read_only = f"sqlite:///file:{tmp_path / 'audit.sqlite'}?mode=ro&uri=true"
    assert audit_main(["--db", read_only, "--json", "record", "--stream", "invoices", "--key", "r1,1"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(h["batch_id"], h["operation"]) for h in history] == [("b-range", "superseded"), ("b-legacy", "insert")]


def test_two_runs_migrating_an_old_db_at_once_both_succeed(tmp_path):
    url = _old_db(tmp_path)
    errors = []
    start = threading.Barrier(2)

    def migrate() -> None:
        engine = audit.make_engine(url)
        try:
            start.wait()
            audit.migrate(engine)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = audit.make_engine(url)
    assert _indexes(engine, "audit_records") == {"ix_audit_records_key"}
    engine.dispose()


def test_large_batches_in_statement_pieces_keep_every_value_in_order(tmp_path, monkeypatch):
    """2,500 rows, every column varying (pieces of 1024 rows and the tail in powers of two), and
    the same with SQLite's parameter limit of old builds (999): the rows read back are the
    records sent, in order, with consecutive ids."""
    for limit in (None, 999):
        if limit:
            monkeypatch.setattr(audit, "_sqlite_max_variables", lambda _engine: limit)
        out = tmp_path / str(limit)
        log = audit.AuditLog(audit.default_url(str(out)), f"run-{limit}", output_dir=str(out))
        log.register_stream("s", "s.hyper", '"Extract"."Extract"')
        n = 2500
        cols = ([f'["k{i}",{i}]' for i in range(n)], [("insert", "update", "delete")[i % 3] for i in range(n)],
                [f"2024-01-01T00:00:{i % 60:02d}Z" if i % 7 else None for i in range(n)],
                [str(i % 5) if i % 2 else None for i in range(n)], list(range(10, 10 + n)))
        log.record_batch(batch_id="b1", stream="s", n_records=n, inserted=0, updated=0, deleted=0,
                         first_line=10, last_line=10 + n - 1, columns=cols)
        with log.engine.connect() as conn:
            rows = conn.execute(audit.run_record_rows(conn, log.run_id, "s")).all()
            batch = conn.execute(sa.select(audit.batches)).one()
        assert [(r.record_key, r.operation, r.source_updated_at, r.sync_token, r.line) for r in rows] == list(zip(*cols))
        assert [r.id for r in rows] == list(range(batch.first_record_id, batch.last_record_id + 1))
        assert {(r.run_id, r.batch_id, r.stream) for r in rows} == {(log.run_id, "b1", "s")}
        log.close()


def test_statement_pieces():
    assert audit._row_pieces(0, 1024) == []
    assert audit._row_pieces(2500, 1024) == [1024, 1024, 256, 128, 64, 4]
    assert audit._row_pieces(1024, 1024) == [1024]
    assert sum(audit._row_pieces(100_000, 1024)) == 100_000


def test_a_failed_batch_write_leaves_nothing_and_the_next_one_is_written(tmp_path, monkeypatch):
    """The batches' own connection (kept with a larger page cache) is dropped after a failure:
    the failed batch left no row, counter or batch entry; the next batch is written whole."""
    log = audit.AuditLog(audit.default_url(str(tmp_path)), "run-f", output_dir=str(tmp_path))
    log.register_stream("s", "s.hyper", '"Extract"."Extract"')
    write = audit.AuditLog._insert_sqlite_values

    def fail_midway(self, conn, batch_id, stream, columns):
        write(self, conn, batch_id, stream, columns)  # rows inserted, then the transaction fails
        raise OSError("disk full")

    cols = (['["a"]', '["b"]'], ["insert", "insert"], [None, None], [None, None], [1, 2])
    log.record_batch(batch_id="b0", stream="s", n_records=0, inserted=0, updated=0, deleted=0,
                     first_line=0, last_line=0, columns=([], [], [], [], []))
    before = log._batch_conn.connection.driver_connection
    monkeypatch.setattr(audit.AuditLog, "_insert_sqlite_values", fail_midway)
    try:
        log.record_batch(batch_id="b1", stream="s", n_records=2, inserted=2, updated=0, deleted=0,
                         first_line=1, last_line=2, columns=cols)
    except OSError:
        pass
    else:
        raise AssertionError("the failure was not raised")
    monkeypatch.setattr(audit.AuditLog, "_insert_sqlite_values", write)
    with log.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit.records)).scalar() == 0
        assert [b.batch_id for b in conn.execute(sa.select(audit.batches))] == ["b0"]
        assert conn.execute(sa.select(audit.runs.c.inserted)).scalar() == 0
    log.record_batch(batch_id="b2", stream="s", n_records=2, inserted=2, updated=0, deleted=0,
                     first_line=1, last_line=2, columns=cols)
    assert log._batch_conn.connection.driver_connection is not before  # a new DBAPI connection
    with log.engine.connect() as conn:
        rows = conn.execute(audit.run_record_rows(conn, "run-f")).all()
        assert [(r.batch_id, r.record_key) for r in rows] == [("b2", '["a"]'), ("b2", '["b"]')]
        assert conn.execute(sa.select(audit.runs.c.inserted)).scalar() == 2
    log.finish()
    log.close()
    assert log._batch_conn is None


def test_sql_view_shows_old_and_new_rows_filled_in(tmp_path):
    url = _old_db(tmp_path)
    log = _new_run(url, tmp_path)
    with log.engine.connect() as conn:
        view = conn.exec_driver_sql(
            "SELECT id, run_id, batch_id, stream, record_key, operation, line FROM audit_records_full ORDER BY id").all()
        through_code = [
            r for run_id in (OLD_RUN, log.run_id) for r in conn.execute(audit.run_record_rows(conn, run_id))]
        assert [tuple(v) for v in view] == sorted(
            (r.id, r.run_id, r.batch_id, r.stream, r.record_key, r.operation, r.line) for r in through_code)
        assert [v.batch_id for v in view] == ["b-legacy", "b-range", "b-range", "b-cust", "b-new", "b-new"]
    log.close()
