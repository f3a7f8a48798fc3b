"""Audit trail: runs, per-stream counts, emitted states, every record (key, operation, source
updated time, SyncToken, run, batch), and the `audit` CLI queries."""

from __future__ import annotations

import json

import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.audit_cli import main as audit_main


def _records(url, run_id, stream):
    engine = audit.make_engine(url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(audit.run_record_rows(conn, run_id, stream))]
    engine.dispose()
    return rows


def test_audit_of_runs_and_records(run_target, singer_resource, capsys):
    run1 = run_target(singer_resource("upsert.singer"))
    run2 = run_target(singer_resource("upsert_second_run.singer"))
    url = audit.default_url(str(run_target.out_dir))
    rows = _records(url, run1.run_id, "invoices")
    assert [(r["record_key"], r["operation"], r["sync_token"], r["line"]) for r in rows] == [
        ('["r1","1"]', "superseded", "0", 2),
        ('["r1","2"]', "insert", "0", 3),
        ('["r2","1"]', "insert", "0", 4),
        ('["r1","1"]', "insert", "1", 5),
    ]
    assert rows[3]["source_updated_at"].startswith("2024-01-02T10:00:00")
    assert {r["run_id"] for r in rows} == {run1.run_id} and len({r["batch_id"] for r in rows}) == 1
    rows2 = _records(url, run2.run_id, "invoices")
    assert [(r["record_key"], r["operation"]) for r in rows2] == [
        ('["r1","2"]', "update"), ('["r1","3"]', "insert"), ('["r2","1"]', "delete"), ('["r9","404"]', "delete"),
    ]
    assert audit.changed_keys(audit.make_engine(url), run2.run_id, "invoices") == {
        '["r1","2"]': "update", '["r1","3"]': "insert", '["r2","1"]': "delete", '["r9","404"]': "delete",
    }
    engine = audit.make_engine(url)
    with engine.connect() as conn:
        run_row = conn.execute(sa.select(audit.runs).where(audit.runs.c.run_id == run2.run_id)).one()
        streams = conn.execute(sa.select(audit.run_streams).where(audit.run_streams.c.run_id == run2.run_id)).all()
        states = conn.execute(sa.select(audit.states.c.state).where(audit.states.c.run_id == run2.run_id)).all()
    assert run_row.status == "succeeded" and run_row.ended_at >= run_row.started_at
    assert (run_row.inserted, run_row.updated, run_row.deleted) == (1, 1, 1)
    assert json.loads(run_row.last_state) == run2.states[-1]
    assert [json.loads(s.state) for s in states] == run2.states
    assert [(s.stream, s.records, s.inserted, s.updated, s.deleted) for s in streams] == [("invoices", 4, 1, 1, 1)]
    assert streams[0].hyper_file.endswith("invoices.hyper") and streams[0].table_name == '"Extract"."Extract"'

    # CLI: when did record X last change, in which run?
    capsys.readouterr()
    assert audit_main(["--db", url, "--json", "record", "--stream", "invoices", "--key", "r1,2"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(h["run_id"], h["operation"]) for h in history] == [(run2.run_id, "update"), (run1.run_id, "insert")]
    assert audit_main(["record", "--db", url, "--stream", "invoices", "--key", '["r1","1"]']) == 0
    assert run1.run_id in capsys.readouterr().out
    # what did run R do?
    assert audit_main(["run", run2.run_id, "--db", url]) == 0
    text = capsys.readouterr().out
    assert "inserted 1, updated 1, deleted 1" in text and "invoices" in text and "replication_key_value" in text
    assert audit_main(["--db", url, "--json", "runs"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [run2.run_id, run1.run_id]
    assert audit_main(["--db", url, "record", "--stream", "invoices", "--key", "nope"]) == 1


def test_audit_of_parent_replace(run_target, singer_resource):
    run = run_target(singer_resource("parent_replace.singer"))
    rows = _records(audit.default_url(str(run_target.out_dir)), run.run_id, "invoice_lines")
    ops = [(r["record_key"], r["operation"]) for r in rows]
    assert ops[0] == ('["r1","10"]', "parent_delete")
    assert ('["r1","10",2]', "dropped_by_parent_tombstone") in ops
    assert ('["r1","10",0]', "insert") in ops and ops.count(('["r1","10",0]', "dropped_by_parent_tombstone")) == 1
    assert ops[-1] == ('["r1","11"]', "parent_delete")
    assert len(rows) == 11


def test_audit_can_be_disabled_and_db_url_configured(run_target, singer_resource, tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'a.db'}"
    run = run_target(singer_resource("upsert.singer"), audit_db_url=url)
    assert len(_records(url, run.run_id, "invoices")) == 4
    assert not (run_target.out_dir / "audit.sqlite").exists()
    run_target(singer_resource("upsert.singer"), audit_enabled=False, output_dir=str(tmp_path / "noaudit"))
    assert not (tmp_path / "noaudit" / "audit.sqlite").exists()


def test_audit_of_loads_into_an_empty_table(run_target, hyper_reader):
    """A batch into an empty table (first load; overwrite) skips Hyper's key checks: its deletes
    and its superseded versions are still audited exactly, and the next batch sees the rows."""
    schema = {"type": "SCHEMA", "stream": "items", "key_properties": ["Id"], "schema": {"type": "object", "properties": {
        "Id": {"type": "string"}, "Name": {"type": ["string", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}}}

    def record(key, name=None, deleted=None):
        body = {"Id": key, "Name": name}
        if deleted:
            body["_sdc_deleted_at"] = deleted
        return {"type": "RECORD", "stream": "items", "record": body}

    first = [schema, record("1", "a"), record("2", "b"), record("9", deleted="2024-01-01T00:00:00Z"),
             record("1", "a2"), {"type": "STATE", "value": {"n": 1}}]
    run1 = run_target(first, batch_size_rows=3)  # 2nd batch: key 1 again, now in the table
    url = audit.default_url(str(run_target.out_dir))
    ops1 = [(r["record_key"], r["operation"], r["line"]) for r in _records(url, run1.run_id, "items")]
    assert ops1 == [('["1"]', "insert", 2), ('["2"]', "insert", 3), ('["9"]', "delete", 4), ('["1"]', "update", 5)]
    assert run1.target.counts["items"] == {"inserted": 2, "updated": 1, "deleted": 0}
    rows = hyper_reader(run_target.out_dir / "items.hyper", order_by='"Id"')["rows"]
    assert [(r["Id"], r["Name"]) for r in rows] == [("1", "a2"), ("2", "b")]

    run2 = run_target([schema, record("3", "c"), record("3", "c2"), record("1", deleted="2024-01-02T00:00:00Z"),
                       {"type": "STATE", "value": {"n": 2}}], load_method="overwrite")
    ops2 = [(r["record_key"], r["operation"]) for r in _records(url, run2.run_id, "items")]
    assert ops2 == [('["3"]', "superseded"), ('["3"]', "insert"), ('["1"]', "delete")]
    rows = hyper_reader(run_target.out_dir / "items.hyper", order_by='"Id"')["rows"]
    assert [(r["Id"], r["Name"]) for r in rows] == [("3", "c2")]
