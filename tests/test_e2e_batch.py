"""Batch mode through the real Meltano CLI: `meltano run tap-quickbooks-online--batch
target-tableau-hyper` (records as JSONL files + Singer BATCH messages) writes the same .hyper
tables as the RECORD-mode run of the same company, reconciles with QBO's own reports, keeps its
state after the BATCH messages (a second run is incremental and converges) and leaves no file;
a target killed with SIGKILL mid-load leaves files no later run loads, and the rerun converges.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from e2e_support import MELTANO, MeltanoProject, differing_tables, extract_tables, sandbox_env  # noqa: E402
from reconcile import open_hyper  # noqa: E402
from test_e2e_pipeline import assert_extracts_equal_books, assert_ledger_matches_reports, reader_api  # noqa: E402

pytestmark = pytest.mark.slow

BATCH_STATE_ID = "dev:tap-quickbooks-online--batch-to-target-tableau-hyper"


@pytest.fixture(scope="module")
def qbo():
    from qbo_sandbox.testing import QboSandboxServer

    with QboSandboxServer(realms=2, size="demo", seed=11) as sb:
        yield sb


@pytest.fixture(scope="module")
def project(installed_project_template, tmp_path_factory, qbo) -> MeltanoProject:
    root = tmp_path_factory.mktemp("e2e-batch") / "project"
    shutil.copytree(installed_project_template, root, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    proj = MeltanoProject(root=root, env={**env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"})
    sandbox_env(proj, qbo)
    return proj


@pytest.fixture(scope="module")
def hyper(tmp_path_factory):
    with open_hyper(tmp_path_factory.mktemp("hyper-logs")) as hp:
        yield hp


class BatchOutput:
    """The batch-mode run's view of the project: its own output directory."""

    def __init__(self, project: MeltanoProject) -> None:
        self.root = project.root
        self.output_dir = project.root / "output" / "batch"


def run_batch(project: MeltanoProject, extra_env: dict[str, str] | None = None):
    return project.run("run", "tap-quickbooks-online--batch", "target-tableau-hyper",
                       extra_env={"TARGET_TABLEAU_HYPER_OUTPUT_DIR": str(BatchOutput(project).output_dir),
                                  **(extra_env or {})})


@pytest.fixture(scope="module")
def both_runs(project, qbo):
    project.run("run", "tap-quickbooks-online", "target-tableau-hyper")
    proc = run_batch(project)
    return proc


def _streams_loaded(output_dir: Path) -> dict[str, int]:
    with sqlite3.connect(output_dir / "audit.sqlite") as db:
        run_id = db.execute("SELECT run_id FROM audit_runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        return dict(db.execute("SELECT stream, records FROM audit_run_streams WHERE run_id = ?", (run_id,)))


def test_batch_run_writes_the_same_tables_as_the_record_run(both_runs, project, hyper):
    from tableauhyperapi import Connection

    records_dir, batch_dir = project.output_dir, BatchOutput(project).output_dir
    with Connection(hyper.endpoint) as conn:
        differing, rows = differing_tables(records_dir, batch_dir, conn)
    assert len(rows) > 40
    assert not differing, differing
    empty = {name for name, count in rows.items() if not count}
    assert empty <= {"attachables", "budgets", "currencies", "exchange_rates"}, empty
    # the same records reached the target (audit: records per stream)
    assert _streams_loaded(batch_dir) == _streams_loaded(records_dir)

    # the tap really sent BATCH messages: its log says so, and nothing is left on disk
    log = project.logs[-1]
    assert "batch mode: records go to JSONL files under" in log
    batches = project.root / ".meltano" / "run" / "tap-quickbooks-online" / "batches"
    assert batches.is_dir() and not list(batches.iterdir())
    # Meltano kept the state that followed the BATCH messages
    state = project.state(BATCH_STATE_ID)["singer_state"]
    assert state["bookmarks"]["invoices"]["partitions"]


def test_batch_run_reconciles_with_qbo_reports(both_runs, project, qbo, hyper):
    output = BatchOutput(project)
    assert_extracts_equal_books(hyper, output, qbo)
    assert_ledger_matches_reports(hyper, output, qbo)


def test_incremental_batch_run_converges(both_runs, project, qbo, hyper):
    first, second = qbo.realm_ids()
    api1 = reader_api(qbo, first)
    invoice = api1.query("SELECT * FROM Invoice MAXRESULTS 1").json()["QueryResponse"]["Invoice"][0]
    bill = reader_api(qbo, second).query("SELECT * FROM Bill MAXRESULTS 1").json()["QueryResponse"]["Bill"][0]
    qbo.control("POST", "/_sandbox/mutate", json={
        "realm": first, "entity": "Invoice", "op": "update", "id": invoice["Id"],
        "data": {"Line": invoice["Line"][:1]}})
    qbo.control("POST", "/_sandbox/mutate", json={
        "realm": second, "entity": "Bill", "op": "delete", "id": bill["Id"]})
    qbo.control("DELETE", "/_sandbox/counters")
    run_batch(project)
    counters = qbo.control("GET", "/_sandbox/counters")["requests"]
    assert counters.get("cdc", 0) >= 1  # incremental: from the state the first batch run left
    assert_extracts_equal_books(hyper, BatchOutput(project), qbo)


# --- a killed target ------------------------------------------------------------------------------

#: the kill test's streams: a few entity and line streams (CDC changes) and one report, so its
#: three runs stay short. The SDK syncs streams in name order: profit_and_loss comes after the
#: entity and line streams, so the tap is held in its report request once their files are out
KILL_SELECT = ["customers.*", "invoices.*", "invoice_lines.*", "profit_and_loss.*"]
KILL_STREAMS = {"customers", "invoices", "invoice_lines", "profit_and_loss"}
REFERENCE_STATE_ID = "dev:tap-quickbooks-online-to-target-tableau-hyper:kill-reference"


def test_killed_target_leaves_no_file_a_later_run_loads_and_the_rerun_converges(
        both_runs, project, qbo, hyper):
    """kill -9 of the target while it holds BATCH files whose records no emitted STATE covers:
    the rerun (from the last emitted state) loads the records again from its own new files, and
    the extracts equal, row for row (EXCEPT ALL both ways: no duplicate, no missing row), those
    of a RECORD-mode run that was never killed, started from the same extracts and state; they
    also hold exactly QBO's keys. The killed run's files are never loaded by a later run (a
    loaded file is deleted: they are still there, untouched) and the tap's start-up sweep deletes
    them once stale.

    (The reference starts from the same point rather than being a full sync: a customer's
    Balance moves with its invoices without a change of the customer QBO's CDC would report.)"""
    from tableauhyperapi import Connection

    first, _second = qbo.realm_ids()
    api = reader_api(qbo, first)
    invoice = api.query("SELECT * FROM Invoice STARTPOSITION 5 MAXRESULTS 1").json()[
        "QueryResponse"]["Invoice"][0]
    qbo.control("POST", "/_sandbox/mutate", json={
        "realm": first, "entity": "Invoice", "op": "update", "id": invoice["Id"],
        "data": {"Line": invoice["Line"][:1]}})
    for n in range(40):
        qbo.control("POST", "/_sandbox/mutate", json={
            "realm": first, "entity": "Customer", "op": "create",
            "data": {"DisplayName": f"Batch kill-time customer {n}"}})
    # the tap's first report request (profit_and_loss, the last stream by name) waits 12 s: by
    # then it has announced the entity and line files and the target is loading them; nothing
    # has been emitted to cover them
    qbo.control("DELETE", "/_sandbox/faults")
    qbo.control("POST", "/_sandbox/faults", json={
        "kind": "slow", "path": "reports/", "delay_s": 12, "count": 1, "rate": 1.0})
    output = BatchOutput(project)
    # the reference run (RECORD mode, never killed) starts from this run's extracts and state
    reference = project.root / "output" / "kill-reference"
    reference.mkdir()
    for name in KILL_STREAMS:
        shutil.copy(output.output_dir / f"{name}.hyper", reference / f"{name}.hyper")
    project.run("state", "set", "--force", REFERENCE_STATE_ID,
                json.dumps(project.state(BATCH_STATE_ID)))
    batches = project.root / ".meltano" / "run" / "tap-quickbooks-online" / "batches"
    select = {"TAP_QUICKBOOKS_ONLINE__BATCH__SELECT": json.dumps(KILL_SELECT)}
    # no STATE emitted (so no file deleted) before the kill however slow the machine: the SDK's
    # 5-minute record age is the only drain trigger; loads of quiet sinks still commit rows
    # batches of 10 rows: the killed target has committed some of the files' rows, not all
    env = {**project.env, "TARGET_TABLEAU_HYPER_OUTPUT_DIR": str(output.output_dir),
           "TARGET_TABLEAU_HYPER_STATE_FLUSH_SECONDS": "3600",
           "TARGET_TABLEAU_HYPER_BATCH_SIZE_ROWS": "10", **select}
    proc = subprocess.Popen([MELTANO, "run", "tap-quickbooks-online--batch", "target-tableau-hyper"],
                            cwd=project.root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    killed = _kill_target_holding_batch_files(project, proc, qbo, batches,
                                              output.output_dir / "audit.sqlite")
    out = proc.communicate(timeout=900)[0]
    project.logs.append(out)
    assert killed, "the target was never seen holding batch files with a batch committed"
    assert proc.returncode != 0
    qbo.control("DELETE", "/_sandbox/faults")
    left = {p.name: p.stat().st_ino for p in batches.iterdir()}
    assert left, "the kill left no batch file: it did not land mid-load"
    # all of the killed run (one run id): files the target held, and any the tap announced
    # after the target died (Meltano still relayed them)
    assert len({name.split("--", 1)[1].split("-")[1] for name in left}) == 1, sorted(left)
    held = {name.split("--", 1)[1].split("-")[0] for name in left}
    assert held >= {"customers", "invoices", "invoice_lines"}, sorted(left)

    run_batch(project, extra_env=select)
    # the rerun loaded none of the killed run's files (a loaded file is deleted) and left none
    assert {p.name: p.stat().st_ino for p in batches.iterdir()} == left
    with sqlite3.connect(output.output_dir / "audit.sqlite") as db:
        statuses = [row[0] for row in db.execute(
            "SELECT status FROM audit_runs ORDER BY started_at DESC LIMIT 2")]
    assert statuses == ["succeeded", "abandoned"], statuses

    # exact: row for row what a RECORD-mode run of the same streams, never killed, loads on the
    # same starting point; and QBO's keys, money and lines
    project.run("run", "--state-id-suffix=kill-reference", "tap-quickbooks-online",
                "target-tableau-hyper",
                extra_env={"TARGET_TABLEAU_HYPER_OUTPUT_DIR": str(reference),
                           "TAP_QUICKBOOKS_ONLINE__SELECT": json.dumps(KILL_SELECT)})
    assert set(extract_tables(reference)) == KILL_STREAMS
    compared = project.root / "output" / "kill-compared"
    compared.mkdir()
    for name in KILL_STREAMS:
        shutil.copy(output.output_dir / f"{name}.hyper", compared / f"{name}.hyper")
    with Connection(hyper.endpoint) as conn:
        differing, rows = differing_tables(reference, compared, conn)
    assert not differing, differing
    assert all(rows.values()), rows
    assert_extracts_equal_books(hyper, output, qbo)

    # the killed run's leftovers: deleted by the tap's start-up sweep once older than a day
    from tap_quickbooks_online import batch_output

    stale = time.time() - batch_output.STALE_AFTER_SECONDS - 60
    for name in left:
        os.utime(batches / name, (stale, stale))
    batch_output.BatchOutput("tap-quickbooks-online", {"storage": {"root": str(batches)}},
                             lambda message: None)
    assert list(batches.iterdir()) == []


def _kill_target_holding_batch_files(project: MeltanoProject, proc: subprocess.Popen, qbo,
                                     batches: Path, audit_db: Path) -> int:
    """SIGKILL the run's target once the tap is held in its first report request (the slow
    fault fired) with batch files announced and the target has committed a batch of this run;
    returns that run's committed batches (0: not killed mid-load)."""
    import psutil

    deadline = time.monotonic() + 600
    me = str(project.root)
    while time.monotonic() < deadline and proc.poll() is None:
        fired = sum(rule.get("fired", 0) for rule in qbo.control("GET", "/_sandbox/faults")["faults"])
        files = [p for p in batches.iterdir() if not p.name.endswith(".partial")] if batches.is_dir() else []
        committed = _running_run_batches(audit_db) if fired and files else 0
        if committed:
            for p in psutil.process_iter(["cmdline"]):
                cmd = " ".join(p.info["cmdline"] or [])
                if "target-tableau-hyper" in cmd and me in cmd and "--config" in cmd:
                    try:
                        p.send_signal(signal.SIGKILL)
                    except psutil.NoSuchProcess:
                        return 0
                    return committed
            return 0
        time.sleep(0.2)
    return 0


def _running_run_batches(audit_db: Path) -> int:
    """Batches the target has committed in its running run (the audit trail's own record)."""
    if not audit_db.exists():
        return 0
    with sqlite3.connect(f"file:{audit_db}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("SELECT count(*) FROM audit_batches b JOIN audit_runs r ON r.run_id = b.run_id"
                          " WHERE r.status = 'running'").fetchone()[0]
