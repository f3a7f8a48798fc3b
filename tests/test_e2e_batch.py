"""Batch mode through the real Meltano CLI: `meltano run tap-quickbooks-online--batch
target-tableau-hyper` (records as JSONL files + Singer BATCH messages) writes the same .hyper
tables as the RECORD-mode run of the same company, reconciles with QBO's own reports, keeps its
state after the BATCH messages (a second run is incremental and converges) and leaves no file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from e2e_support import MeltanoProject, differing_tables, sandbox_env  # noqa: E402
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


def run_batch(project: MeltanoProject):
    return project.run("run", "tap-quickbooks-online--batch", "target-tableau-hyper",
                       extra_env={"TARGET_TABLEAU_HYPER_OUTPUT_DIR": str(BatchOutput(project).output_dir)})


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
