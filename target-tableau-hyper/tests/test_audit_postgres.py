"""The whole audit trail on a real (throw-away) PostgreSQL: runs, records, states, the publishing
step's publishes/refreshes in the same database, and the `audit` command's two questions.

`postgres_database` (a fresh database per test in a throw-away cluster) comes from the sandbox
package's `ml_testing` pytest plugin (server binaries from PATH or the `pgserver` wheel).
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.audit_cli import main as audit_main
from target_tableau_hyper.publishing import audit_tables
from target_tableau_hyper.publishing.testing import sandbox_config


def _rows(url: str, run_id: str, stream: str) -> list[dict]:
    engine = audit.make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(audit.run_record_rows(conn, run_id, stream))]
    finally:
        engine.dispose()


def test_audit_trail_on_postgres(run_target, singer_resource, postgres_database, hyper_reader, capsys):
    run1 = run_target(singer_resource("upsert.singer"), audit_db_url=postgres_database)
    # audit_hyper on from the second run: run 1 is copied from PostgreSQL into _audit.hyper
    run2 = run_target(singer_resource("upsert_second_run.singer"), audit_db_url=postgres_database,
                      audit_hyper=True)
    assert not (run_target.out_dir / "audit.sqlite").exists()

    engine = audit.make_engine(postgres_database)
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        id_type = sa.inspect(conn).get_columns("audit_records")
        runs = {r.run_id: r for r in conn.execute(sa.select(audit.runs))}
        streams = conn.execute(sa.select(audit.run_streams).where(audit.run_streams.c.run_id == run2.run_id)).all()
        states = conn.execute(sa.select(audit.states.c.state).where(audit.states.c.run_id == run2.run_id)
                              .order_by(audit.states.c.id)).all()
        batches = conn.execute(sa.select(audit.batches).where(audit.batches.c.run_id == run1.run_id)).all()
    engine.dispose()
    assert next(c for c in id_type if c["name"] == "id")["type"].python_type is int
    assert isinstance(next(c for c in id_type if c["name"] == "id")["type"], sa.BigInteger)

    # runs: id, start/end, status, streams, counts, the state emitted
    assert set(runs) == {run1.run_id, run2.run_id}
    r2 = runs[run2.run_id]
    assert r2.status == "succeeded" and r2.ended_at >= r2.started_at
    assert json.loads(r2.streams) == ["invoices"]
    assert (r2.inserted, r2.updated, r2.deleted) == (1, 1, 1)
    assert (runs[run1.run_id].inserted, runs[run1.run_id].updated, runs[run1.run_id].deleted) == (3, 0, 0)
    assert json.loads(r2.last_state) == run2.states[-1]
    assert [json.loads(s.state) for s in states] == run2.states
    assert [(s.stream, s.records, s.inserted, s.updated, s.deleted) for s in streams] == [("invoices", 4, 1, 1, 1)]

    # records: written with COPY, ids are BIGSERIAL (not consecutive ranges): no range kept
    assert len(batches) == 1 and batches[0].first_record_id is None
    rows1 = _rows(postgres_database, run1.run_id, "invoices")
    assert [(r["record_key"], r["operation"], r["sync_token"], r["line"]) for r in rows1] == [
        ('["r1","1"]', "superseded", "0", 2),
        ('["r1","2"]', "insert", "0", 3),
        ('["r2","1"]', "insert", "0", 4),
        ('["r1","1"]', "insert", "1", 5),
    ]
    assert rows1[3]["source_updated_at"].startswith("2024-01-02T10:00:00")
    assert {r["batch_id"] for r in rows1} == {batches[0].batch_id}
    rows2 = _rows(postgres_database, run2.run_id, "invoices")
    assert [(r["record_key"], r["operation"]) for r in rows2] == [
        ('["r1","2"]', "update"), ('["r1","3"]', "insert"), ('["r2","1"]', "delete"), ('["r9","404"]', "delete"),
    ]
    copied = hyper_reader(run_target.out_dir / "_audit.hyper", "records", order_by="committed_at, line")["rows"]
    assert [(r["run_id"], r["record_key"], r["operation"]) for r in copied] == [
        (r["run_id"], r["record_key"], r["operation"]) for r in rows1 + rows2]
    copied_runs = hyper_reader(run_target.out_dir / "_audit.hyper", "runs", order_by="started_at")["rows"]
    assert [(r["run_id"], r["status"], r["records"]) for r in copied_runs] == [
        (run1.run_id, "succeeded", 4), (run2.run_id, "succeeded", 4)]
    engine = audit.make_engine(postgres_database)
    assert audit.changed_keys(engine, run2.run_id, "invoices") == {
        '["r1","2"]': "update", '["r1","3"]': "insert", '["r2","1"]': "delete", '["r9","404"]': "delete",
    }
    engine.dispose()

    # `audit record`: when did record X last change, in which run?
    capsys.readouterr()
    assert audit_main(["--db", postgres_database, "--json", "record", "--stream", "invoices", "--key", "r1,2"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(h["run_id"], h["operation"]) for h in history] == [(run2.run_id, "update"), (run1.run_id, "insert")]
    assert history[0]["committed_at"] >= runs[run2.run_id].started_at
    assert audit_main(["--db", postgres_database, "record", "--stream", "invoices", "--key", "nope"]) == 1
    # `audit run`: what did run R do?
    assert audit_main(["run", run2.run_id, "--db", postgres_database, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["run"]["status"] == "succeeded" and report["states_emitted"] == len(run2.states)
    assert [(s["stream"], s["inserted"], s["updated"], s["deleted"]) for s in report["streams"]] == [
        ("invoices", 1, 1, 1)]
    assert audit_main(["--db", postgres_database, "--json", "runs"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [run2.run_id, run1.run_id]


def test_publishes_and_refreshes_share_the_postgres_audit(run_target, singer_resource, postgres_database,
                                                          tableau_sandbox, capsys):
    """The publishing step writes its tables to the same PostgreSQL database, takes its
    incremental delta from the PostgreSQL audit, and `audit run` shows the run's publishes."""
    config = sandbox_config(tableau_sandbox, output_dir=str(run_target.out_dir), refresh="auto",
                            audit_db_url=postgres_database)
    run1 = run_target(singer_resource("upsert.singer"), **config)
    run2 = run_target(singer_resource("upsert_second_run.singer"), **config)

    engine = audit_tables.make_engine(postgres_database)
    with engine.connect() as conn:
        pubs = conn.execute(sa.select(audit_tables.publishes).order_by(audit_tables.publishes.c.id)).all()
        refreshes = conn.execute(sa.select(audit_tables.refreshes)).all()
        pending = conn.execute(sa.select(audit_tables.publish_runs.c.status)).scalars().all()
    engine.dispose()
    assert [(p.run_id, p.mode, p.outcome) for p in pubs] == [
        (run1.run_id, "overwrite", "succeeded"), (run2.run_id, "incremental", "succeeded")]
    # the delta came from the run's audit_records on PostgreSQL: r1/2 updated, r1/3 inserted;
    # r2/1 deleted (r9/404 was never there)
    assert (pubs[1].rows_upserted, pubs[1].rows_deleted) == (2, 2)
    assert refreshes and {r.outcome for r in refreshes} == {"succeeded"}
    assert pending and set(pending) == {"published"}

    capsys.readouterr()
    assert audit_main(["--db", postgres_database, "--json", "run", run2.run_id]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(p["mode"], p["outcome"]) for p in report["tableau_publishes"]] == [("incremental", "succeeded")]
    assert [r["status"] for r in report["tableau_publish_runs"]] == ["published"]
    assert {r["run_id"] for r in report["tableau_refreshes"]} == {run2.run_id}
