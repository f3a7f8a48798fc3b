"""Runs left `running` on a shared audit DB: heartbeats, and who closes a dead run of another host.

Two AuditLog instances on one database play two hosts (socket.gethostname patched while each
starts). Every test runs on SQLite and on a throw-away PostgreSQL (`postgres_database`, from the
sandbox package's `ml_testing` plugin). Waiting for a heartbeat polls the database with a deadline.
"""

from __future__ import annotations

import datetime
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.audit_cli import main as audit_main


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.sqlite'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def on_host(monkeypatch):
    """on_host(name, url, run_id, **kw) → an AuditLog started as if on host `name`."""
    logs: list[audit.AuditLog] = []

    def start(host: str, url: str, run_id: str, **kwargs) -> audit.AuditLog:
        monkeypatch.setattr(socket, "gethostname", lambda: host)
        try:
            log = audit.AuditLog(url, run_id, **kwargs)
        finally:
            monkeypatch.undo()
        logs.append(log)
        return log

    yield start
    for log in logs:
        log.close()


def _ago(minutes: float) -> str:
    return (datetime.datetime.now(tz=datetime.timezone.utc) - datetime.timedelta(minutes=minutes)).isoformat()


def _run(url: str, run_id: str):
    engine = audit.make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(audit.runs).where(audit.runs.c.run_id == run_id)).one()
    finally:
        engine.dispose()


def _set(url: str, run_id: str, **values) -> None:
    engine = audit.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(audit.runs.update().where(audit.runs.c.run_id == run_id).values(**values))
    finally:
        engine.dispose()


def _wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _died(log: audit.AuditLog) -> None:
    """The process of `log` is gone without ending its run (kill -9, machine lost): no more
    heartbeats, the row stays `running`."""
    log._heartbeat.stop()
    log.engine.dispose()


def _batch(log: audit.AuditLog, batch_id: str) -> None:
    log.register_stream("items", "/x/items.hyper", '"Extract"."Extract"')
    log.record_batch(batch_id=batch_id, stream="items", n_records=2, inserted=2, updated=0, deleted=0,
                     first_line=1, last_line=2,
                     columns=[['["1"]', '["2"]'], ["insert", "insert"], [None, None], [None, None], [1, 2]])


def test_heartbeat_interval_is_well_below_the_timeout():
    assert audit.heartbeat_interval(60) == audit.MAX_HEARTBEAT_SECONDS == 60
    assert audit.heartbeat_interval(3) == 30  # a sixth of the timeout
    assert audit.heartbeat_interval(0.05) == 1  # at least a second
    assert audit.heartbeat_interval(0) == audit.heartbeat_interval(None) == 60  # still beats for other hosts
    log_default = audit.AuditLog.__init__.__kwdefaults__["stale_run_timeout_minutes"]
    assert log_default == audit.DEFAULT_STALE_RUN_TIMEOUT_MINUTES == 60


def test_start_batch_and_state_are_signs_of_life(db_url, on_host):
    log = on_host("host-a", db_url, "run-a")
    row = _run(db_url, "run-a")
    assert row.heartbeat_at == row.started_at and row.status == "running"
    assert log.heartbeat_seconds == 60

    _set(db_url, "run-a", heartbeat_at=_ago(120))
    _batch(log, "b1")
    engine = audit.make_engine(db_url)
    with engine.connect() as conn:
        committed_at = conn.execute(sa.select(audit.batches.c.committed_at)).scalar_one()
    engine.dispose()
    row = _run(db_url, "run-a")
    assert row.heartbeat_at == committed_at and row.inserted == 2

    _set(db_url, "run-a", heartbeat_at=_ago(120))
    log.record_state({"bookmarks": {"items": {"n": 1}}})
    row = _run(db_url, "run-a")
    assert audit.parse_time(row.heartbeat_at) > audit.parse_time(_ago(1))
    assert json.loads(row.last_state) == {"bookmarks": {"items": {"n": 1}}}

    log.finish()
    assert not log._heartbeat.alive  # stopped at the run's end
    assert _run(db_url, "run-a").status == "succeeded"


def test_quiet_run_with_fresh_heartbeats_stays_running(db_url, on_host):
    """A slow tap: no batch for hours, but the heartbeat thread keeps the run alive to others."""
    a = on_host("host-a", db_url, "run-a", heartbeat_seconds=0.05)
    old = _ago(180)
    _set(db_url, "run-a", started_at=old, heartbeat_at=old)  # quiet for 3 h before this beat
    _wait_for(lambda: _run(db_url, "run-a").heartbeat_at != old, "run-a's heartbeat")

    b = on_host("host-b", db_url, "run-b", stale_run_timeout_minutes=1)
    assert b.abandoned_runs == []
    assert _run(db_url, "run-a").status == "running"
    assert a._heartbeat.alive
    a.finish()
    assert _run(db_url, "run-a").status == "succeeded"


def test_stale_run_of_another_host_is_abandoned(db_url, on_host):
    a = on_host("host-a", db_url, "run-a")
    _batch(a, "b1")
    a.record_state({"pos": 1})
    _died(a)
    last = _ago(61)
    _set(db_url, "run-a", started_at=_ago(120), heartbeat_at=last)

    b = on_host("host-b", db_url, "run-b")  # default timeout: 60 min
    assert b.abandoned_runs == ["run-a"]
    row = _run(db_url, "run-a")
    assert row.status == "abandoned" and row.ended_at == last  # its last sign of life
    assert f"no sign of life since {last}" in row.error
    assert "found by run run-b on host-b at" in row.error and row.process in row.error
    assert json.loads(row.last_state) == {"pos": 1} and row.inserted == 2  # what it did is kept
    assert _run(db_url, "run-b").status == "running"

    # a later start finds nothing more to close; the run's own host does not reopen it either
    c = on_host("host-a", db_url, "run-c")
    assert c.abandoned_runs == []
    assert _run(db_url, "run-a").status == "abandoned"


def test_quiet_run_just_under_the_timeout_is_left_alone(db_url, on_host):
    a = on_host("host-a", db_url, "run-a")
    _died(a)
    _set(db_url, "run-a", started_at=_ago(300), heartbeat_at=_ago(50))
    b = on_host("host-b", db_url, "run-b", stale_run_timeout_minutes=60)
    assert b.abandoned_runs == [] and _run(db_url, "run-a").status == "running"
    c = on_host("host-c", db_url, "run-c", stale_run_timeout_minutes=45)
    assert c.abandoned_runs == ["run-a"] and "over 45 min" in _run(db_url, "run-a").error


def test_timeout_zero_or_null_never_abandons_by_age(db_url, on_host):
    a = on_host("host-a", db_url, "run-a")
    _died(a)
    _set(db_url, "run-a", started_at=_ago(60 * 24 * 30), heartbeat_at=_ago(60 * 24 * 30))
    for i, timeout in enumerate((0, None)):
        b = on_host("host-b", db_url, f"run-b{i}", stale_run_timeout_minutes=timeout)
        assert b.abandoned_runs == []
        assert b.heartbeat_seconds == 60  # this run still beats for hosts that have a timeout
    assert _run(db_url, "run-a").status == "running"


def test_live_run_of_this_host_is_never_abandoned_by_age(db_url, on_host):
    """Same host, process still there (this test process): quiet for days is not dead."""
    a = on_host(socket.gethostname(), db_url, "run-a")
    _died(a)  # no heartbeats, but its process (this one) exists
    _set(db_url, "run-a", started_at=_ago(5000), heartbeat_at=_ago(5000))
    b = audit.AuditLog(db_url, "run-b", stale_run_timeout_minutes=1)
    try:
        assert b.abandoned_runs == [] and _run(db_url, "run-a").status == "running"
    finally:
        b.close()


def test_dead_process_of_this_host_is_abandoned_at_once(db_url):
    """As before the heartbeat: this host's run whose process is gone, whatever its age or the
    timeout (here 0 = never by age)."""
    engine = audit.make_engine(db_url)
    audit.metadata.create_all(engine)
    me = audit.process_identity(os.getpid())
    host, pid, start = me.rsplit(":", 2)
    fresh = audit.utcnow()
    with engine.begin() as conn:
        conn.execute(audit.runs.insert().values(
            run_id="reused-pid", started_at=fresh, heartbeat_at=fresh, status="running",
            process=f"{host}:{pid}:{int(start) + 1}"))  # same pid number, another process
    engine.dispose()
    log = audit.AuditLog(db_url, "run-b", stale_run_timeout_minutes=0)
    try:
        assert log.abandoned_runs == ["reused-pid"]
    finally:
        log.close()
    row = _run(db_url, "reused-pid")
    assert row.status == "abandoned" and row.ended_at == fresh
    assert "ended without finishing the run (killed or lost; found by run run-b at" in row.error


def test_old_db_gets_the_column_and_old_runs_are_judged_by_their_last_batch_or_state(db_url, on_host):
    engine = audit.make_engine(db_url)
    audit.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_runs DROP COLUMN heartbeat_at")
    old_runs = {"old-dead": (_ago(200), _ago(90), _ago(95)), "old-busy": (_ago(200), _ago(95), _ago(5))}
    with engine.begin() as conn:
        for run_id, (started, batch, state) in old_runs.items():
            conn.exec_driver_sql(
                "INSERT INTO audit_runs (run_id, started_at, status, process) VALUES "
                f"('{run_id}', '{started}', 'running', 'old-host:42:7')")
            conn.execute(audit.batches.insert().values(batch_id=f"{run_id}-1", run_id=run_id, stream="items",
                                                       committed_at=batch, records=0))
            conn.execute(audit.states.insert().values(run_id=run_id, emitted_at=state, state="{}"))
    assert "heartbeat_at" not in {c["name"] for c in sa.inspect(engine).get_columns("audit_runs")}
    engine.dispose()

    log = on_host("new-host", db_url, "run-new")
    assert log.abandoned_runs == ["old-dead"]
    dead, busy = _run(db_url, "old-dead"), _run(db_url, "old-busy")
    assert dead.status == "abandoned" and dead.ended_at == old_runs["old-dead"][1]  # its last batch
    assert dead.heartbeat_at is None
    assert busy.status == "running"
    assert _run(db_url, "run-new").heartbeat_at is not None


def test_living_run_marked_abandoned_is_running_again_at_its_next_beat(db_url, on_host, caplog):
    """Another host closed it (heartbeats blocked or clocks apart for longer than its timeout):
    the run is alive, so its next heartbeat puts it back to `running`, with a warning."""
    a = on_host("host-a", db_url, "run-a", heartbeat_seconds=0.05)
    caplog.set_level(logging.WARNING, logger="target_tableau_hyper.audit")
    _set(db_url, "run-a", status="abandoned", ended_at=_ago(70), error="gave no sign of life since … (test)")
    _wait_for(lambda: _run(db_url, "run-a").status == "running", "run-a running again")
    row = _run(db_url, "run-a")
    assert row.ended_at is None and row.error is None
    _wait_for(lambda: any("marked running again" in r.getMessage() for r in caplog.records), "the warning")
    a.finish()
    assert _run(db_url, "run-a").status == "succeeded"


def test_busy_run_marked_abandoned_is_running_again_at_its_next_batch_or_state(db_url, on_host):
    """A loading run writes no separate heartbeat (its batches are its signs of life): the batch
    or state it commits after another host wrongly closed it puts it back to `running`."""
    a = on_host("host-a", db_url, "run-a")
    a._heartbeat.stop()  # only batches and states from here
    for sign_of_life in (lambda: _batch(a, "b1"), lambda: a.record_state({"pos": 2})):
        _set(db_url, "run-a", status="abandoned", ended_at=_ago(70), error="gave no sign of life (test)")
        sign_of_life()
        row = _run(db_url, "run-a")
        assert (row.status, row.ended_at, row.error) == ("running", None, None)
    a.finish()
    assert _run(db_url, "run-a").status == "succeeded"
    _batch(a, "b2")  # a late batch of a finished run does not reopen it
    assert _run(db_url, "run-a").status == "succeeded"


def test_runs_row_is_the_first_write_of_a_batch(db_url, on_host):
    """On PostgreSQL the runs row is then locked from the start of the batch's transaction, so
    another host's compare-and-set waits for the commit instead of closing a run whose insert of
    per-record rows takes long."""
    a = on_host("host-a", db_url, "run-a")
    a.register_stream("items", "/x/items.hyper", '"Extract"."Extract"')
    statements: list[str] = []

    @sa.event.listens_for(a.engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            statements.append(statement.lstrip())

    _batch(a, "b1")  # the stream is registered already: only the batch's writes
    assert statements[0].startswith("UPDATE audit_runs"), statements
    assert any("audit_batches" in s for s in statements[1:]), statements  # (PostgreSQL: records by COPY)


def test_two_runs_migrating_an_old_db_at_once_both_start(db_url, monkeypatch):
    engine = audit.make_engine(db_url)
    audit.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_runs DROP COLUMN heartbeat_at")
    audit.add_missing_columns(engine)  # the first run adds the column
    # the second run inspected the table before that ALTER committed: it still sees it missing
    real_inspect = sa.inspect
    seen = []

    def stale_once(subject):
        inspector = real_inspect(subject)
        if seen:
            return inspector
        seen.append(True)
        columns = [c for c in inspector.get_columns("audit_runs") if c["name"] != "heartbeat_at"]

        class Stale:
            def get_columns(self, _table):
                return columns
        return Stale()

    monkeypatch.setattr(audit.sa, "inspect", stale_once)
    audit.add_missing_columns(engine)  # no error: the column is there
    monkeypatch.undo()
    assert "heartbeat_at" in {c["name"] for c in sa.inspect(engine).get_columns("audit_runs")}
    engine.dispose()


def test_audit_cli_reads_a_db_no_run_of_this_version_opened(db_url, capsys):
    engine = audit.make_engine(db_url)
    audit.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_runs DROP COLUMN heartbeat_at")
        conn.exec_driver_sql("INSERT INTO audit_runs (run_id, started_at, status, process) "
                             f"VALUES ('old-run', '{_ago(5)}', 'succeeded', 'old-host:42:7')")
    engine.dispose()
    assert audit_main(["--db", db_url, "--json", "runs"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["old-run"]
    assert audit_main(["--db", db_url, "run", "old-run"]) == 0
    assert "old-run" in capsys.readouterr().out


def test_failed_audit_hyper_catch_up_marks_the_run_failed(db_url, monkeypatch):
    from target_tableau_hyper import audit_hyper

    def broken(_mirror, _engine):
        raise OSError("disk full")

    monkeypatch.setattr(audit_hyper, "catch_up", broken)
    with pytest.raises(OSError, match="disk full"):
        audit.AuditLog(db_url, "run-a", mirror=object())
    row = _run(db_url, "run-a")
    assert row.status == "failed" and row.ended_at is not None
    assert "_audit.hyper failed: OSError: disk full" in row.error


def test_failing_heartbeat_is_logged_and_the_run_goes_on(db_url, on_host, caplog):
    a = on_host("host-a", db_url, "run-a", heartbeat_seconds=0.05)
    caplog.set_level(logging.WARNING, logger="target_tableau_hyper.audit")
    real_engine = a.engine

    class Unreachable:
        def begin(self):
            raise sa.exc.OperationalError("UPDATE audit_runs", {}, ConnectionError("server closed the connection"))

    a.engine = Unreachable()
    try:
        warning = _wait_for(
            lambda: next((r for r in caplog.records if "heartbeat of run run-a not written" in r.getMessage()), None),
            "the heartbeat failure warning")
    finally:
        a.engine = real_engine
    assert "OperationalError" in warning.getMessage() and a._heartbeat.alive
    _set(db_url, "run-a", heartbeat_at=_ago(120))
    _wait_for(lambda: audit.parse_time(_run(db_url, "run-a").heartbeat_at) > audit.parse_time(_ago(1)),
              "a heartbeat after the failure")
    _batch(a, "b1")
    a.finish()
    assert _run(db_url, "run-a").status == "succeeded"


def test_heartbeat_thread_ends_with_close_or_when_the_log_is_dropped(db_url):
    log = audit.AuditLog(db_url, "run-a", heartbeat_seconds=0.05)
    heartbeat = log._heartbeat
    assert heartbeat.alive
    log.close()  # no finish: the run stays running (as after a crash), the thread stops
    assert not heartbeat.alive and _run(db_url, "run-a").status == "running"

    dropped = audit.AuditLog(db_url, "run-b", heartbeat_seconds=0.05)
    heartbeat = dropped._heartbeat
    dropped.engine.dispose()
    del dropped  # never closed: the thread holds only a weak reference and ends
    _wait_for(lambda: gc.collect() is not None and not heartbeat.alive, "the heartbeat thread to end")


def test_audit_cli_shows_last_sign_of_life_of_running_runs(db_url, on_host, capsys):
    a = on_host("host-a", db_url, "run-a")
    beat = _ago(7)
    _set(db_url, "run-a", heartbeat_at=beat)
    b = on_host("host-b", db_url, "run-b")
    b.finish()
    capsys.readouterr()
    assert audit_main(["--db", db_url, "--json", "runs"]) == 0
    rows = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["run-a"]["heartbeat_at"] == beat and rows["run-a"]["status"] == "running"
    assert audit_main(["--db", db_url, "runs"]) == 0
    text = capsys.readouterr().out
    line_a = next(line for line in text.splitlines() if line.startswith("run-a"))
    assert "heartbeat_at" in text and beat in line_a and "(7 min ago)" in line_a
    assert audit_main(["--db", db_url, "run", "run-a"]) == 0
    assert f"last sign of life: {beat} (7 min ago)" in capsys.readouterr().out
    a.finish()


def test_target_setting_reaches_the_audit(run_target, singer_resource):
    """`audit_stale_run_timeout_minutes` of the target: a dead run of another host found at the
    start of a run (default 60 min), or left alone with 0."""
    url = audit.default_url(str(run_target.out_dir))
    engine = audit.make_engine(url)
    audit.metadata.create_all(engine)
    with engine.begin() as conn:
        for run_id in ("dead-1", "dead-2"):
            conn.execute(audit.runs.insert().values(
                run_id=run_id, started_at=_ago(300), heartbeat_at=_ago(90), status="running",
                process="worker-7.example:4242:99"))
    engine.dispose()
    kept = run_target(singer_resource("upsert.singer"), audit_stale_run_timeout_minutes=0)
    assert kept.target._audit.abandoned_runs == [] and _run(url, "dead-1").status == "running"
    assert kept.target._audit.heartbeat_seconds == 60
    closed = run_target(singer_resource("upsert.singer"))
    assert sorted(closed.target._audit.abandoned_runs) == ["dead-1", "dead-2"]
    assert closed.target._audit.stale_run_timeout_minutes == 60
    assert _run(url, "dead-1").status == "abandoned" and _run(url, closed.target.run_id).status == "succeeded"


def test_real_target_beats_while_quiet_and_is_closed_by_another_host_after_dying(tmp_path):
    """The target CLI as under Meltano: a quiet run (tap waiting, stdin open) keeps beating;
    killed -9 on "another machine", the next run elsewhere closes it once it is stale."""
    target = [sys.executable, "-c", "from target_tableau_hyper.cli import main; main()"]
    schema = {"type": "SCHEMA", "stream": "items", "key_properties": ["Id"],
              "schema": {"properties": {"Id": {"type": "integer"}}}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"output_dir": str(tmp_path / "out"), "state_flush_seconds": 0,
                                  "audit_stale_run_timeout_minutes": 1}))  # heartbeat every 10 s
    url = audit.default_url(str(tmp_path / "out"))
    proc = subprocess.Popen(target + ["--config", str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "stderr.log", "wb"), start_new_session=True)
    try:
        proc.stdin.write(json.dumps(schema).encode() + b'\n{"type":"RECORD","stream":"items","record":{"Id":1}}\n'
                         + b'{"type":"STATE","value":{"pos":1}}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"pos": 1}, (tmp_path / "stderr.log").read_text()[-3000:]
        [quiet] = _all_runs(url)
        beat = _wait_for(lambda: (row := _run(url, quiet.run_id)).heartbeat_at > quiet.heartbeat_at and row,
                         "a heartbeat of the quiet target", timeout=90)
        assert beat.status == "running" and beat.heartbeat_at > beat.started_at
    finally:
        victims = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGKILL)  # the machine is lost: no end, no more beats
        proc.wait(timeout=60)
        psutil.wait_procs(victims, timeout=30)
    _, pid, start = beat.process.rsplit(":", 2)
    _set(url, quiet.run_id, process=f"worker-2.example:{pid}:{start}",  # it ran on another machine
         started_at=_ago(3), heartbeat_at=_ago(2))  # ... and died 2 minutes ago

    done = subprocess.run(target + ["--config", str(config)], input=json.dumps(schema).encode() + b"\n",
                          capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    dead = _run(url, quiet.run_id)
    assert dead.status == "abandoned" and "no sign of life since" in dead.error and "over 1 min" in dead.error
    assert json.loads(dead.last_state) == {"pos": 1}
    [new] = [r for r in _all_runs(url) if r.run_id != quiet.run_id]
    assert new.status == "succeeded" and new.run_id in dead.error


def _all_runs(url: str):
    engine = audit.make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(audit.runs).order_by(audit.runs.c.started_at)).all()
    finally:
        engine.dispose()
