"""The audit's and the CLI's fast paths give the same answers as the plain ones:
per-batch constant columns bound once, audit keys built by Arrow (quotes, backslashes, control
characters), a run's rows found through the batches' id ranges (no full scan, no (run_id,
stream) index on SQLite), and a successful CLI run that ends with os._exit still leaves every
state, row and audit record behind."""

from __future__ import annotations

import json
import subprocess
import sys

import msgspec
import pyarrow as pa
import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.batch import Batch

TARGET = [sys.executable, "-c", "from target_tableau_hyper.cli import main; main()"]


def _rows(log: audit.AuditLog) -> list[list]:
    r = audit.records.c
    with log.engine.connect() as conn:
        return [list(row) for row in conn.execute(
            sa.select(r.record_key, r.operation, r.source_updated_at, r.sync_token, r.line).order_by(r.id))]


def test_constant_columns_bound_once_store_the_same_rows(tmp_path):
    log = audit.AuditLog(audit.default_url(str(tmp_path)), "run-a", output_dir=str(tmp_path))
    log.register_stream("s", "s.hyper", '"Extract"."Extract"')
    batches = [
        # Arrow columns: constant operation, all-null token, a chunked source time with a null
        (pa.array(['["a",1]', '["b",2]']), pa.repeat("insert", 2),
         pa.chunked_array([pa.array(["2024-01-01T00:00:00Z"]), pa.array([None], pa.string())]),
         pa.nulls(2, pa.string()), [3, 4]),
        # lists: varying operation and token, constant source time with a quote in it
        (['["c",1]', '["d\\"x",2]', '["e",3]'], ["update", "insert", "delete"], ['t"1'] * 3,
         ["0", None, "5"], [5, 6, 7]),
        # one record: every column but the line constant
        (['["f"]'], ["parent_delete"], [None], [None], [9]),
    ]
    expected = []
    for i, cols in enumerate(batches):
        n = len(cols[0])
        log.record_batch(batch_id=f"b{i}", stream="s", n_records=n, inserted=0, updated=0, deleted=0,
                         first_line=0, last_line=0, columns=cols)
        expected += [list(r) for r in zip(*[c.to_pylist() if hasattr(c, "to_pylist") else c for c in cols])]
    assert _rows(log) == expected
    with log.engine.connect() as conn:
        ranges = conn.execute(sa.select(audit.batches.c.first_record_id, audit.batches.c.last_record_id)
                              .order_by(audit.batches.c.first_record_id)).all()
    assert [tuple(r) for r in ranges] == [(1, 2), (3, 5), (6, 6)]
    log.close()


def test_arrow_audit_keys_equal_msgspec_encoding():
    enc = msgspec.json.Encoder()

    class _Batch:
        pass

    cases = [
        ({"a": ["9130", 'x"y', "é✓"], "b": ["1", "a\\b", ""], "c": pa.array([0, 5, -2])}, ["a", "b", "c"]),
        ({"c": pa.array([0, 5]), "a": ["r1", "r2"]}, ["c", "a"]),
        ({"c": pa.array([0, 5]), "d": pa.array([1, 2])}, ["c", "d"]),
        ({"a": ["x", "z"]}, ["a"]),
        # key columns with one value on every row are written into the literal text
        ({"a": ["9130"] * 3, "b": ["1", "2", "3"], "c": pa.array([0, 1, 0])}, ["a", "b", "c"]),
        ({"a": ['x"\\y'] * 3, "c": pa.array([7, 7, 7]), "b": ["1", 'q"', "3"]}, ["a", "c", "b"]),
        ({"a": ["é\n✓"] * 2, "b": ["1", "2"]}, ["a", "b"]),  # constant control character: msgspec's text
        ({"a": ["r"] * 3, "c": pa.array([-4, -4, -4])}, ["a", "c"]),  # all constant: one row each still
        ({"c": pa.array([5, 5]), "a": ["x", "y"]}, ["c", "a"]),
    ]
    for cols, keys in cases:
        whole = pa.table(cols)
        for table in (whole, pa.concat_tables([whole.slice(0, 1), whole.slice(1)])):  # sliced chunks
            batch = _Batch()
            batch.n = table.num_rows
            built = Batch._audit_keys_vectorized(batch, table, keys)
            assert built.to_pylist() == [enc.encode(tuple(r[k] for k in keys)).decode() for r in table.to_pylist()]
    # a control character: left to msgspec (None = not vectorized)
    batch = _Batch()
    batch.n = 2
    assert Batch._audit_keys_vectorized(batch, pa.table({"a": ["x\ny", "z"]}), ["a"]) is None


def test_run_rows_found_by_batch_ranges_without_run_index(tmp_path):
    url = audit.default_url(str(tmp_path))
    engine = audit.make_engine(url)
    audit.metadata.create_all(engine)
    with engine.begin() as conn:  # an audit DB made by an earlier version had this index
        conn.exec_driver_sql("CREATE INDEX ix_audit_records_run_stream ON audit_records (run_id, stream)")
    engine.dispose()
    logs = []
    for run_id in ("run-1", "run-2"):
        log = audit.AuditLog(url, run_id, output_dir=str(tmp_path))
        for stream in ("s", "t"):
            log.register_stream(stream, f"{stream}.hyper", '"Extract"."Extract"')
        logs.append(log)
    # interleaved batches of two runs and two streams
    for k in range(3):
        for log in logs:
            for stream in ("s", "t"):
                keys = [f'["{log.run_id}","{stream}",{k},{i}]' for i in range(4)]
                log.record_batch(batch_id=f"{log.run_id}-{stream}-{k}", stream=stream, n_records=4, inserted=4,
                                 updated=0, deleted=0, first_line=1, last_line=4,
                                 columns=(keys, ["insert"] * 4, [None] * 4, [None] * 4, [1, 2, 3, 4]))
    engine = logs[0].engine
    names = {ix["name"] for ix in sa.inspect(engine).get_indexes("audit_records")}
    assert "ix_audit_records_run_stream" not in names and "ix_audit_records_key" in names
    with engine.connect() as conn:
        for run_id in ("run-1", "run-2"):
            got = [r.record_key for r in conn.execute(audit.run_record_rows(conn, run_id, "t"))]
            assert got == [f'["{run_id}","t",{k},{i}]' for k in range(3) for i in range(4)]
            everything = conn.execute(audit.run_record_rows(conn, run_id)).all()
            assert len(everything) == 24 and {r.run_id for r in everything} == {run_id}
            query = audit.run_record_rows(conn, run_id, "t")
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN audit_records" not in plan, plan
    for log in logs:
        log.close()


def test_successful_cli_run_leaves_everything_behind(tmp_path, hyper_reader):
    schema = {"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"], "schema": {
        "type": "object", "properties": {
            "realm_id": {"type": "string"}, "Id": {"type": "string"},
            "TotalAmt": {"type": ["number", "null"], "multipleOf": 0.01},
            "SyncToken": {"type": ["string", "null"]},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}}}
    lines = [json.dumps(schema)]
    for i in range(250):
        lines.append('{"type":"RECORD","stream":"invoices","record":{"realm_id":"r1","Id":"%d","TotalAmt":%d.%02d,'
                     '"SyncToken":"0","updated_at":"2024-01-01T10:00:00Z"}}' % (i, i, i % 100))
        if i % 100 == 99:
            lines.append('{"type":"STATE","value":{"n":%d}}' % i)
    lines.append('{"type":"STATE","value":{"done":true}}')
    config = tmp_path / "config.json"
    out = tmp_path / "out"
    config.write_text(json.dumps({"output_dir": str(out), "batch_size_rows": 100, "state_flush_seconds": 0}))
    proc = subprocess.run(TARGET + ["--config", str(config)], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    states = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert states[-1] == {"done": True} and {"n": 199} in states
    assert "done:" in proc.stderr  # the run's last log line was flushed before the fast exit
    table = hyper_reader(out / "invoices.hyper", order_by='"Id"')
    assert len(table["rows"]) == 250
    engine = audit.make_engine(audit.default_url(str(out)))
    with engine.connect() as conn:
        run = conn.execute(sa.select(audit.runs)).one()
        assert run.status == "succeeded" and run.inserted == 250 and json.loads(run.last_state) == {"done": True}
        assert conn.execute(sa.select(sa.func.count()).select_from(audit.records)).scalar() == 250
    engine.dispose()
