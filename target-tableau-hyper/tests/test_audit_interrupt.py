"""A run stopped by SIGTERM/SIGINT ends `interrupted` in the audit (in-flight batches committed,
last emitted state kept, Hyper stopped); a run killed with -9 stays `running` until the next run
marks it `abandoned`. The target runs as a subprocess (its CLI), as under Meltano."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import psutil
import pytest
import sqlalchemy as sa
from tableauhyperapi import Connection, HyperProcess, TableName, Telemetry

from target_tableau_hyper import audit
from target_tableau_hyper.audit_cli import main as audit_main

TARGET = [sys.executable, "-c", "from target_tableau_hyper.cli import main; main()"]
SCHEMA = {"type": "SCHEMA", "stream": "invoices", "key_properties": ["Id"], "schema": {"properties": {
    "Id": {"type": "integer"}, "TotalAmt": {"type": ["number", "null"], "multipleOf": 0.01},
    "SyncToken": {"type": ["string", "null"]}}}}


def record(i: int) -> bytes:
    return b'{"type":"RECORD","stream":"invoices","record":{"Id":%d,"TotalAmt":%d.25,"SyncToken":"0"}}\n' % (i, i)


def state(pos: int) -> bytes:
    return json.dumps({"type": "STATE", "value": {"pos": pos}}).encode() + b"\n"


def start_target(tmp_path, **config):
    cfg = {"output_dir": str(tmp_path / "out"), "state_flush_seconds": 0, "batch_size_rows": 500, **config}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.Popen(TARGET + ["--config", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "stderr.log", "wb"), start_new_session=True)
    proc.stdin.write(json.dumps(SCHEMA).encode() + b"\n" + b"".join(record(i) for i in range(300)) + state(1))
    proc.stdin.flush()
    first = proc.stdout.readline()  # the state goes out once the first 300 records are committed
    assert json.loads(first) == {"pos": 1}, (tmp_path / "stderr.log").read_text()[-3000:]
    return proc, tmp_path / "out"


def run_row(out, run_id=None) -> sa.Row:
    engine = audit.make_engine(audit.default_url(str(out)))
    with engine.connect() as conn:
        q = sa.select(audit.runs).order_by(audit.runs.c.started_at)
        rows = conn.execute(q).all()
    engine.dispose()
    return rows if run_id is None else next(r for r in rows if r.run_id == run_id)


def audit_inserts(out, run_id) -> list[str]:
    engine = audit.make_engine(audit.default_url(str(out)))
    with engine.connect() as conn:
        rows = conn.execute(audit.run_record_rows(conn, run_id, "invoices")).all()
    engine.dispose()
    assert {r.operation for r in rows} <= {"insert"}
    return [r.record_key for r in rows]


def table_ids(out) -> list[int]:
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
        with Connection(hp.endpoint, str(out / "invoices.hyper")) as conn:
            return sorted(r[0] for r in conn.execute_list_query(
                f'SELECT "Id" FROM {TableName("Extract", "Extract")}'))


def hyperd_of(out) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if "hyperd" in (p.info["name"] or "") and str(out) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.mark.parametrize(("signum", "audit_hyper"), [(signal.SIGTERM, False), (signal.SIGINT, False),
                                                     (signal.SIGTERM, True)],
                         ids=["SIGTERM", "SIGINT", "SIGTERM-audit_hyper"])
def test_signal_ends_run_interrupted_after_committing_batches_in_flight(tmp_path, signum, audit_hyper):
    proc, out = start_target(tmp_path, audit_hyper=audit_hyper)
    # More records than fit the pipe: by the time the write returns, the target has read most
    # of them, so batches are being loaded and others buffered when the signal comes.
    proc.stdin.write(b"".join(record(i) for i in range(300, 5300)))
    proc.stdin.flush()
    proc.send_signal(signum)
    rest, _ = proc.communicate(timeout=180)
    stderr = (tmp_path / "stderr.log").read_text()
    assert proc.returncode == 128 + signum, stderr[-3000:]
    assert rest == b""  # no state after the signal: the buffered records are not covered
    assert f"stopped by {signal.Signals(signum).name}" in stderr and "Traceback" not in stderr

    [run] = run_row(out)
    assert run.status == "interrupted" and run.ended_at >= run.started_at
    assert signal.Signals(signum).name in run.error
    assert json.loads(run.last_state) == {"pos": 1}  # the state it last emitted
    # what the audit claims is exactly what the file holds: whole batches, in order
    ids = table_ids(out)
    keys = audit_inserts(out, run.run_id)
    assert sorted(json.loads(k)[0] for k in keys) == ids == list(range(len(ids)))
    assert len(ids) >= 300 and len(ids) % 500 in (0, 300)  # 300 then batches of 500
    assert (run.inserted, run.updated, run.deleted) == (len(ids), 0, 0)
    assert hyperd_of(out) == []  # Hyper stopped with the run
    if audit_hyper:  # the .hyper copy claims exactly the committed batches too, and the end
        with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
            with Connection(hp.endpoint, str(out / "_audit.hyper")) as conn:
                copied = sorted(r[0] for r in conn.execute_list_query('SELECT record_key FROM "Extract"."records"'))
                status = conn.execute_list_query('SELECT status, inserted, last_state FROM "Extract"."runs"')
        assert copied == sorted(keys)
        assert status == [["interrupted", len(ids), run.last_state]]


def kill_nine(proc: subprocess.Popen) -> None:
    """kill -9 the target and its hyperd (own process group), like a lost machine or OOM kill."""
    victims = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGKILL)
    for victim in victims:
        try:
            victim.kill()
        except psutil.Error:
            pass
    proc.wait(timeout=60)
    psutil.wait_procs(victims, timeout=30)


def test_kill_nine_leaves_run_running_and_next_run_marks_it_abandoned(tmp_path, capsys):
    proc, out = start_target(tmp_path)
    kill_nine(proc)
    [killed] = run_row(out)
    assert killed.status == "running" and killed.ended_at is None
    assert killed.process.startswith(f"{socket.gethostname()}:{proc.pid}:")

    cfg = tmp_path / "config.json"
    text = json.dumps(SCHEMA).encode() + b"\n" + record(7) + state(2)
    done = subprocess.run(TARGET + ["--config", str(cfg)], input=text, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-3000:]

    old = run_row(out, killed.run_id)
    new = next(r for r in run_row(out) if r.run_id != killed.run_id)
    assert old.status == "abandoned" and new.status == "succeeded"
    assert json.loads(old.last_state) == {"pos": 1}
    assert killed.started_at <= old.ended_at <= new.started_at  # its last sign of life
    assert "ended without finishing" in old.error and new.run_id in old.error
    capsys.readouterr()
    assert audit_main(["--db", audit.default_url(str(out)), "--json", "runs"]) == 0
    assert [(r["run_id"], r["status"]) for r in json.loads(capsys.readouterr().out)] == [
        (new.run_id, "succeeded"), (killed.run_id, "abandoned")]


def test_running_runs_of_live_or_remote_processes_are_left_alone(tmp_path):
    engine = audit.make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    audit.metadata.create_all(engine)
    me = audit.process_identity(os.getpid())
    host, pid, start = me.rsplit(":", 2)
    rows = {
        "live": me,  # this process: still running
        "remote": f"other-host.example:{pid}:1",  # another machine (shared PostgreSQL)
        "reused-pid": f"{host}:{pid}:{int(start) + 1}",  # same pid number, another process
        "unknown": None,  # written by an older version
    }
    with engine.begin() as conn:
        for run_id, process in rows.items():
            conn.execute(audit.runs.insert().values(run_id=run_id, started_at=audit.utcnow(), status="running",
                                                    process=process))
    assert audit.mark_abandoned_runs(engine, found_by="now") == ["reused-pid"]
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(audit.runs.c.run_id, audit.runs.c.status)).all())
    assert status == {"live": "running", "remote": "running", "reused-pid": "abandoned", "unknown": "running"}
    engine.dispose()
