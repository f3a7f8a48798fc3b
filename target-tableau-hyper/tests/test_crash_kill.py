"""kill -9 of the target (and its hyperd) at random moments, many times.

After every kill: each .hyper file opens and its table equals the source data after some
prefix of that stream's messages (a committed state), never a mix; the state the target
emitted before dying is covered by the file. Each rerun resumes from the last emitted state
(as a tap would); the final run leaves exactly the source data: no duplicate, no missing row.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import psutil
import pytest
from tableauhyperapi import Connection, HyperProcess, TableName, Telemetry

pytestmark = pytest.mark.slow

TARGET = [sys.executable, "-c", "from target_tableau_hyper.cli import main; main()"]
SCHEMAS = [
    {"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"], "schema": {"properties": {
        "realm_id": {"type": "string"}, "Id": {"type": "string"},
        "TotalAmt": {"type": ["number", "null"], "multipleOf": 0.01}, "SyncToken": {"type": ["string", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}}},
    {"type": "SCHEMA", "stream": "invoice_lines", "key_properties": ["realm_id", "txn_id", "line_index"],
     "schema": {"x-parent-key": ["realm_id", "txn_id"], "properties": {
         "realm_id": {"type": "string"}, "txn_id": {"type": "string"}, "line_index": {"type": ["integer", "null"]},
         "Amount": {"type": ["number", "null"], "multipleOf": 0.01},
         "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}}},
]
DELETED = "2024-01-01T00:00:00Z"


def make_messages(seed: int = 11, steps: int = 2500) -> list[str]:
    """Interleaved invoice upserts/deletes and line replaces, with STATE {"pos": next index}."""
    rnd = random.Random(seed)
    out: list[str] = []
    records = 0
    for step in range(steps):
        txn = str(rnd.randrange(300))
        cents = rnd.randrange(1, 10**7)
        amount = f"{cents // 100}.{cents % 100:02d}"
        op = rnd.random()
        if op < 0.45:
            out.append('{"type":"RECORD","stream":"invoices","record":{"realm_id":"r1","Id":"%s","TotalAmt":%s,"SyncToken":"%d"}}' % (txn, amount, step))
            records += 1
        elif op < 0.5:
            out.append('{"type":"RECORD","stream":"invoices","record":{"realm_id":"r1","Id":"%s","_sdc_deleted_at":"%s"}}' % (txn, DELETED))
            records += 1
        else:
            out.append('{"type":"RECORD","stream":"invoice_lines","record":{"realm_id":"r1","txn_id":"%s","line_index":null,"_sdc_deleted_at":"%s"}}' % (txn, DELETED))
            for i in range(rnd.randrange(0, 4) if op > 0.55 else 0):
                out.append('{"type":"RECORD","stream":"invoice_lines","record":{"realm_id":"r1","txn_id":"%s","line_index":%d,"Amount":%s}}' % (txn, i, amount))
                records += 1
            records += 1
        if step % 100 == 99:
            out.append(json.dumps({"type": "STATE", "value": {"pos": len(out) + 1}}))
    out.append(json.dumps({"type": "STATE", "value": {"pos": len(out) + 1}}))
    return out


class Model:
    """Sequential semantics per stream, with an order-independent fingerprint of the table."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple, tuple]] = {"invoices": {}, "invoice_lines": {}}
        self.sums = {"invoices": 0, "invoice_lines": 0}

    @classmethod
    def from_tables(cls, tables: dict[str, list[tuple]]) -> "Model":
        model = cls()
        for row in tables["invoices"]:
            model._put("invoices", row[:2], row)
        for row in tables["invoice_lines"]:
            model._put("invoice_lines", row[:3], row)
        return model

    @staticmethod
    def h(row: tuple) -> int:
        return hash(row) & 0xFFFFFFFFFFFFFFFF

    def _put(self, stream, key, row):
        old = self.tables[stream].pop(key, None)
        if old is not None:
            self.sums[stream] -= self.h(old)
        if row is not None:
            self.tables[stream][key] = row
            self.sums[stream] += self.h(row)

    def apply(self, msg: dict) -> str | None:
        if msg.get("type") != "RECORD":
            return None
        stream, rec = msg["stream"], msg["record"]
        if stream == "invoices":
            key = (rec["realm_id"], rec["Id"])
            if rec.get("_sdc_deleted_at"):
                self._put(stream, key, None)
            else:
                self._put(stream, key, (*key, str(Decimal(str(rec["TotalAmt"])).quantize(Decimal("0.01"))), rec["SyncToken"]))
        else:
            if rec["line_index"] is None:
                for key in [k for k in self.tables[stream] if k[:2] == (rec["realm_id"], rec["txn_id"])]:
                    self._put(stream, key, None)
            else:
                key = (rec["realm_id"], rec["txn_id"], rec["line_index"])
                self._put(stream, key, (*key, str(Decimal(str(rec["Amount"])).quantize(Decimal("0.01")))))
        return stream


def read_tables(hp: HyperProcess, out_dir) -> dict[str, list[tuple]]:
    result = {}
    for stream in ("invoices", "invoice_lines"):
        path = out_dir / f"{stream}.hyper"
        if not path.exists():
            result[stream] = []
            continue
        with Connection(hp.endpoint, str(path)) as conn:
            name = TableName("Extract", "Extract")
            if not conn.catalog.has_table(name):
                result[stream] = []
                continue
            if stream == "invoices":
                q = f'SELECT "realm_id", "Id", CAST("TotalAmt" AS TEXT), "SyncToken" FROM {name}'
            else:
                q = f'SELECT "realm_id", "txn_id", "line_index", CAST("Amount" AS TEXT) FROM {name}'
            result[stream] = [tuple(r) for r in conn.execute_list_query(q)]
    return result


def run_once(config_path, lines: list[str], kill_after: float | None) -> tuple[list[dict], int]:
    proc = subprocess.Popen(
        TARGET + ["--config", str(config_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True,  # own process group: the kill also takes hyperd down
    )
    states: list[dict] = []
    # The input stays open until the kill time has passed, so a run that would outpace the
    # chosen moment (a quiet machine) is still killed mid-run rather than finishing.
    hold_eof = threading.Event()
    if kill_after is None:
        hold_eof.set()

    def feed():
        try:
            for line in lines:
                proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            hold_eof.wait()
            proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def collect():
        for raw in proc.stdout:
            states.append(json.loads(raw))

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=collect, daemon=True)]
    for th in threads:
        th.start()
    if kill_after is None:
        rc = proc.wait(timeout=300)
    else:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        # hyperd puts itself in its own process group: kill the target's group and every
        # descendant (hyperd included), like a machine losing the whole pipeline
        try:
            victims = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            victims = []
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for victim in victims:
            try:
                victim.kill()
            except psutil.Error:
                pass
        rc = proc.wait(timeout=60)
        psutil.wait_procs(victims, timeout=30)
    threads[1].join(timeout=30)
    return states, rc


def test_kill_nine_at_random_points_then_rerun_gives_exact_source_data(tmp_path):
    messages = make_messages()
    parsed = [json.loads(m) for m in messages]
    schema_lines = [json.dumps(s) for s in SCHEMAS]
    model = Model()
    for msg in parsed:
        model.apply(msg)
    final = {s: sorted(rows.values()) for s, rows in model.tables.items()}

    out_dir = tmp_path / "out"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"output_dir": str(out_dir), "batch_size_rows": 150, "state_flush_seconds": 0}))
    # how long an uninterrupted run takes on this machine right now (kills land inside it)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"output_dir": str(tmp_path / "baseline"), "batch_size_rows": 150,
                                    "state_flush_seconds": 0}))
    started = time.monotonic()
    run_once(baseline, schema_lines + messages, kill_after=None)
    duration = time.monotonic() - started
    rnd = random.Random(2024)
    resume = 0
    kills = 0
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
        for attempt in range(7):
            # the states this attempt can commit: the file as it is, then each prefix of the
            # messages it is sent, as intervals (fingerprint, first position, last position)
            model = Model.from_tables(read_tables(hp, out_dir))
            history = {name: [[model.sums[name], resume, resume]] for name in model.sums}
            for pos in range(resume + 1, len(parsed) + 1):
                for intervals in history.values():
                    intervals[-1][2] = pos
                stream = model.apply(parsed[pos - 1])
                if stream and model.sums[stream] != history[stream][-1][0]:
                    history[stream][-1][2] = pos - 1
                    history[stream].append([model.sums[stream], pos, pos])
            states, rc = run_once(config, schema_lines + messages[resume:], kill_after=rnd.uniform(0.15, 0.9) * duration * (len(messages) - resume) / len(messages))
            kills += rc == -signal.SIGKILL
            tables = read_tables(hp, out_dir)  # every file opens after the kill
            for stream, rows in tables.items():
                fp = sum(Model.h(r) for r in rows)
                matches = [iv for iv in history[stream] if iv[0] == fp]
                assert matches, f"attempt {attempt}: {stream} is not a committed state"
                assert len(rows) == len(set((r[:2] if stream == "invoices" else r[:3]) for r in rows)), "duplicate key"
                if states:
                    # every message before the last emitted state is in the file
                    covered = states[-1]["pos"] - 1
                    assert any(last >= covered for _, _, last in matches), f"attempt {attempt}: state ahead of data"
            if states:
                resume = states[-1]["pos"] - 1
            if rc == 0:
                resume = 0  # finished before the kill: start over (the tap re-sends everything)
        assert kills >= 5, "the target must really have been killed mid-run"
        assert resume > 0, "some killed run emitted a state first, and the rerun resumed from it"
        states, rc = run_once(config, schema_lines + messages[resume:], kill_after=None)
        assert rc == 0
        assert states[-1] == {"pos": len(messages)}
        tables = read_tables(hp, out_dir)
    assert sorted(tables["invoices"]) == final["invoices"]
    assert sorted(tables["invoice_lines"]) == final["invoice_lines"]
