"""Audit rows are written by their own thread behind the loads; a STATE still leaves only
after the audit rows of every record before it are in the audit DB."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.audit_writer import AuditWriter

SCHEMA = {"type": "SCHEMA", "stream": "s", "key_properties": ["id"],
          "schema": {"properties": {"id": {"type": "integer"}, "v": {"type": ["string", "null"]}}}}


def test_state_waits_for_the_audit_rows_it_covers(run_target, monkeypatch):
    write_batch = audit.AuditLog.record_batch

    def slow_write(self, **kwargs):
        time.sleep(0.2)  # the writer thread lags behind the loads: the barrier must wait
        write_batch(self, **kwargs)

    seen = []
    record_state = audit.AuditLog.record_state

    def check_state(self, state):
        with self.engine.connect() as conn:
            n = conn.execute(
                sa.select(sa.func.count()).select_from(audit.run_record_rows(conn, self.run_id).subquery())
            ).scalar()
        seen.append((state["n"], n))
        record_state(self, state)

    monkeypatch.setattr(audit.AuditLog, "record_batch", slow_write)
    monkeypatch.setattr(audit.AuditLog, "record_state", check_state)
    messages = [SCHEMA]
    for i in range(9):
        messages.append({"type": "RECORD", "stream": "s", "record": {"id": i, "v": str(i)}})
        if i in (4, 8):
            messages.append({"type": "STATE", "value": {"n": i + 1}})
    run = run_target(messages, batch_size_rows=2, state_flush_seconds=0)
    # every state, when recorded (just before it is emitted), finds all its records audited
    # (the last state is recorded again at the end of the input)
    assert seen[:2] == [(5, 5), (9, 9)] and set(seen) == {(5, 5), (9, 9)}
    assert [s["n"] for s in run.states][:2] == [5, 9]


def test_writer_keeps_order_and_reraises_a_failure():
    writer = AuditWriter()
    done = []
    for i in range(6):
        writer.submit(lambda i=i: (time.sleep(0.01), done.append(i)))
    writer.wait()
    assert done == list(range(6))

    def fail():
        raise RuntimeError("audit DB gone")

    writer.submit(fail)
    with pytest.raises(RuntimeError, match="audit DB gone"):
        writer.wait()
    writer.submit(fail)
    writer.close()  # closing after a failed run does not raise again
    assert json.dumps(done) == "[0, 1, 2, 3, 4, 5]"
