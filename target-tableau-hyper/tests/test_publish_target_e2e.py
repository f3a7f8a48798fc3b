"""The real target (`target-tableau-hyper` CLI, Singer messages on stdin) publishing to the sandbox:
the delta comes from the core's audit trail; a failed publish keeps state, exits non-zero and is
retried by the next run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.hyperfiles import hyper_process, read_rows
from target_tableau_hyper.publishing.testing import canonical_rows, sandbox_config

TARGET = [sys.executable, "-c", "from target_tableau_hyper.cli import main; main()"]
INVOICE_SCHEMA = {
    "type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"],
    "schema": {"type": "object", "properties": {
        "realm_id": {"type": "string"}, "Id": {"type": "string"},
        "TotalAmt": {"type": ["number", "null"], "multipleOf": 0.01},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}},
}
LINE_SCHEMA = {
    "type": "SCHEMA", "stream": "invoice_lines", "key_properties": ["realm_id", "txn_id", "line_index"],
    "schema": {"type": "object", "x-parent-key": ["realm_id", "txn_id"], "properties": {
        "realm_id": {"type": "string"}, "txn_id": {"type": "string"}, "line_index": {"type": ["integer", "null"]},
        "Amount": {"type": ["number", "null"], "multipleOf": 0.01},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}},
}
T = "2026-01-0{}T00:00:00Z"


def invoice(i, amount, day=1):
    return {"type": "RECORD", "stream": "invoices",
            "record": {"realm_id": "r1", "Id": str(i), "TotalAmt": amount, "updated_at": T.format(day)}}


def deleted_invoice(i, day):
    return {"type": "RECORD", "stream": "invoices", "record": {"realm_id": "r1", "Id": str(i), "_sdc_deleted_at": T.format(day)}}


def line(txn, index, amount):
    return {"type": "RECORD", "stream": "invoice_lines",
            "record": {"realm_id": "r1", "txn_id": str(txn), "line_index": index, "Amount": amount}}


def tombstone(txn, day):
    return {"type": "RECORD", "stream": "invoice_lines",
            "record": {"realm_id": "r1", "txn_id": str(txn), "line_index": None, "_sdc_deleted_at": T.format(day)}}


def run_target(config_path: Path, messages: list[dict], day: int) -> subprocess.CompletedProcess:
    state = {"type": "STATE", "value": {"bookmarks": {"invoices": {"replication_key_value": T.format(day)}}}}
    text = "\n".join(json.dumps(m) for m in [INVOICE_SCHEMA, LINE_SCHEMA, *messages, state]) + "\n"
    # Decimal text must stay exact: write amounts as JSON numbers with two decimals
    return subprocess.run(TARGET + ["--config", str(config_path)], input=text, capture_output=True, text=True,
                          timeout=300)


def test_target_publishes_incrementally_from_its_audit_trail(tableau_sandbox, tmp_path):
    out = tmp_path / "out"
    config = sandbox_config(tableau_sandbox, output_dir=str(out), refresh="auto")
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))

    first = run_target(config_path, [invoice(i, i * 10) for i in range(1, 6)] +
                       [line(t, i, 1) for t in (1, 2) for i in range(3)], day=1)
    assert first.returncode == 0, first.stderr[-3000:]
    assert '"replication_key_value": "2026-01-01T00:00:00Z"' in first.stdout

    second = run_target(config_path, [invoice(2, 99.99, 2), deleted_invoice(3, 2), invoice(6, 60, 2),
                                      tombstone(1, 2), line(1, 0, 5.5)], day=2)
    assert second.returncode == 0, second.stderr[-3000:]

    engine = audit.make_engine(f"sqlite:///{out}/audit.sqlite")
    with engine.connect() as conn:
        pubs = [r._asdict() for r in conn.execute(sa.select(audit.publishes).order_by(audit.publishes.c.id))]
        refreshes = [r._asdict() for r in conn.execute(sa.select(audit.refreshes))]
    assert [(p["datasource_name"], p["mode"]) for p in pubs] == [
        ("QBO invoice_lines", "overwrite"), ("QBO invoices", "overwrite"),
        ("QBO invoice_lines", "incremental"), ("QBO invoices", "incremental")]
    assert all(p["outcome"] == "succeeded" for p in pubs)
    lines_pub, invoices_pub = pubs[2], pubs[3]
    assert (invoices_pub["rows_upserted"], invoices_pub["rows_deleted"]) == (2, 1)
    assert (lines_pub["rows_upserted"], lines_pub["rows_deleted"]) == (1, 1)  # txn 1 replaced by one line
    assert len(refreshes) == 4 and {r["outcome"] for r in refreshes} == {"succeeded"}

    with hyper_process() as hyper:
        for stream, pub in (("invoices", invoices_pub), ("invoice_lines", lines_pub)):
            local = canonical_rows(read_rows(hyper, str(out / f"{stream}.hyper")))
            stored = canonical_rows(tableau_sandbox.rows(pub["datasource_id"])["rows"])
            assert stored == local
    assert len(local) == 4  # txn 1: one line, txn 2: three lines


def test_failed_publish_keeps_state_exits_nonzero_and_is_retried(tableau_sandbox, tmp_path):
    out = tmp_path / "out"
    config = sandbox_config(tableau_sandbox, output_dir=str(out))
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    assert run_target(config_path, [invoice(1, 10), invoice(2, 20)], day=1).returncode == 0

    project_id = tableau_sandbox.control("GET", "/_sandbox/state")["datasources"][0]["project_id"]
    tableau_sandbox.control("POST", "/_sandbox/permissions", json={"project_id": project_id, "capability": "Write"})
    failed = run_target(config_path, [invoice(2, 25, 2), invoice(3, 30, 2)], day=2)
    assert failed.returncode != 0
    assert '"replication_key_value": "2026-01-02T00:00:00Z"' in failed.stdout  # state went out first
    assert "Publishing to Tableau failed" in failed.stderr and "403004" in failed.stderr
    assert config["tableau_token_secret"] not in failed.stderr + failed.stdout
    with hyper_process() as hyper:  # the local file has the data regardless
        assert len(read_rows(hyper, str(out / "invoices.hyper"))) == 3

    tableau_sandbox.control("DELETE", "/_sandbox/permissions")
    retried = run_target(config_path, [invoice(4, 40, 3)], day=3)
    assert retried.returncode == 0, retried.stderr[-3000:]
    engine = audit.make_engine(f"sqlite:///{out}/audit.sqlite")
    with engine.connect() as conn:
        pubs = [r._asdict() for r in conn.execute(sa.select(audit.publishes).order_by(audit.publishes.c.id)
                                                  .where(audit.publishes.c.datasource_name == "QBO invoices"))]
        runs = [r._asdict() for r in conn.execute(sa.select(audit.publish_runs).order_by(audit.publish_runs.c.id)
                                                  .where(audit.publish_runs.c.stream == "invoices"))]
    assert [(p["mode"], p["outcome"]) for p in pubs] == [
        ("overwrite", "succeeded"), ("incremental", "failed"), ("incremental", "succeeded")]
    assert len(json.loads(pubs[2]["covered_run_ids"])) == 2 and pubs[2]["rows_upserted"] == 3
    assert {r["status"] for r in runs} == {"published"} and len(runs) == 3
    with hyper_process() as hyper:
        local = canonical_rows(read_rows(hyper, str(out / "invoices.hyper")))
    assert canonical_rows(tableau_sandbox.rows(pubs[2]["datasource_id"])["rows"]) == local
