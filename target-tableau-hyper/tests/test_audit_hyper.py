"""`audit_hyper: true`: the audit trail also in `<output_dir>/_audit.hyper` ("Extract"."runs" and
"Extract"."records"), read back with Hyper and compared with the audit DB."""

from __future__ import annotations

import json

import sqlalchemy as sa
from tableauhyperapi import Connection, HyperProcess, Telemetry

from target_tableau_hyper import audit


def db_view(out) -> tuple[list[tuple], list[tuple]]:
    """(runs, records) from the audit DB, shaped like the _audit.hyper tables."""
    engine = audit.make_engine(audit.default_url(str(out)))
    with engine.connect() as conn:
        runs = []
        for run in conn.execute(sa.select(audit.runs).order_by(audit.runs.c.started_at)):
            n = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(audit.run_streams.c.records), 0))
                             .where(audit.run_streams.c.run_id == run.run_id)).scalar()
            runs.append((run.run_id, run.status, json.loads(run.streams), n, run.inserted, run.updated,
                         run.deleted, run.last_state, run.ended_at is not None))
        rows = [r for run in runs for r in conn.execute(audit.run_record_rows(conn, run[0]))]
        records = [
            (r.run_id, r.batch_id, r.stream, r.record_key, r.operation, r.source_updated_at, r.sync_token, r.line)
            for r in sorted(rows, key=lambda r: r.id)
        ]
    engine.dispose()
    return runs, records


def hyper_view(hyper_reader, out) -> tuple[list[tuple], list[tuple]]:
    path = out / "_audit.hyper"
    runs = [
        (r["run_id"], r["status"], json.loads(r["streams"]), r["records"], r["inserted"], r["updated"],
         r["deleted"], r["last_state"], r["ended_at"] is not None)
        for r in hyper_reader(path, "runs", order_by="started_at")["rows"]
    ]
    records = [
        (r["run_id"], r["batch_id"], r["stream"], r["record_key"], r["operation"], r["source_updated_at"],
         r["sync_token"], r["line"])
        for r in hyper_reader(path, "records", order_by="committed_at, line")["rows"]
    ]
    return runs, records


def test_audit_hyper_holds_runs_and_records(run_target, singer_resource, hyper_reader):
    run1 = run_target(singer_resource("upsert.singer"), audit_hyper=True)
    run2 = run_target(singer_resource("upsert_second_run.singer"), audit_hyper=True)
    out = run_target.out_dir
    read = hyper_reader(out / "_audit.hyper", "runs")
    assert sorted(read["tables"]) == ["records", "runs"]
    assert read["columns"]["started_at"] == "TIMESTAMP_TZ" and read["columns"]["records"] == "BIG_INT"

    runs, records = hyper_view(hyper_reader, out)
    assert (runs, records) == db_view(out)
    assert [(r[0], r[1], r[3], r[4:7]) for r in runs] == [
        (run1.run_id, "succeeded", 4, (3, 0, 0)), (run2.run_id, "succeeded", 4, (1, 1, 1))]
    assert json.loads(runs[1][7]) == run2.states[-1]
    assert [(r[3], r[4]) for r in records if r[0] == run2.run_id] == [
        ('["r1","2"]', "update"), ('["r1","3"]', "insert"), ('["r2","1"]', "delete"), ('["r9","404"]', "delete")]
    committed = hyper_reader(out / "_audit.hyper", "records")["rows"][0]["committed_at"]
    assert committed is not None  # TIMESTAMPTZ: Tableau can plot it


def test_audit_hyper_catches_up_with_the_audit_db(run_target, singer_resource, hyper_reader):
    """Turned on later: the history is copied; a copy left behind (crash between the audit DB
    commit and the .hyper write, simulated by deleting a run's rows) is repaired by the next run."""
    run1 = run_target(singer_resource("upsert.singer"))  # audit_hyper off
    out = run_target.out_dir
    assert not (out / "_audit.hyper").exists()
    run2 = run_target(singer_resource("upsert_second_run.singer"), audit_hyper=True)
    runs, records = hyper_view(hyper_reader, out)
    assert (runs, records) == db_view(out) and {r[0] for r in runs} == {run1.run_id, run2.run_id}

    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
        with Connection(hp.endpoint, str(out / "_audit.hyper")) as conn:
            conn.execute_command(f"DELETE FROM \"Extract\".\"records\" WHERE run_id = '{run1.run_id}'")
            conn.execute_command(f"UPDATE \"Extract\".\"runs\" SET status = 'running' WHERE run_id = '{run1.run_id}'")
    assert len(hyper_view(hyper_reader, out)[1]) == len(db_view(out)[1]) - 4
    run3 = run_target(singer_resource("upsert_second_run.singer"), audit_hyper=True)
    runs, records = hyper_view(hyper_reader, out)
    assert (runs, records) == db_view(out)
    assert [r[0] for r in runs] == [run1.run_id, run2.run_id, run3.run_id]
