"""Publishing against the Tableau sandbox (Server and Cloud): first publish, incremental upserts and
deletes, overwrite, schema change, chunked upload, request-id idempotency, pending retries,
line streams and a multi-table datasource. Every test compares what Tableau stores with the local file."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa
import tableauserverclient as TSC

from target_tableau_hyper.publishing import PublishFailedError, publish_after_run
from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.changes import StreamKeys
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.hyperfiles import hyper_process, read_rows
from target_tableau_hyper.publishing.publisher import Publisher
from target_tableau_hyper.publishing.testing import (
    LINE_COLUMNS,
    RecordedChanges,
    canonical_rows,
    sandbox_config,
    write_extract,
    write_invoices,
)

INVOICE_KEYS = StreamKeys(["realm_id", "Id"], ["realm_id", "Id"], replace_scope=False)
LINE_KEYS = StreamKeys(["realm_id", "txn_id", "line_index"], ["realm_id", "txn_id"], replace_scope=True)


@pytest.fixture(scope="module")
def hyper():
    with hyper_process() as process:
        yield process


@pytest.fixture(params=["server", "cloud"])
def sandbox(request, tableau_sandbox_factory):
    return tableau_sandbox_factory(request.param)


class Harness:
    """A local extract per stream, a recorded change source, and the publisher run by run."""

    def __init__(self, sb, tmp_path, hyper, **overrides):
        self.sb, self.tmp, self.hyper = sb, tmp_path, hyper
        self.config_map = sandbox_config(sb, audit_db_url=f"sqlite:///{tmp_path}/audit.sqlite", **overrides)
        self.engine = audit.make_engine(self.config_map["audit_db_url"])
        self.changes = RecordedChanges(keys={"invoices": INVOICE_KEYS, "invoice_lines": LINE_KEYS})
        self.files: dict[str, str] = {}

    def invoices(self, run_id: str, rows: dict[int, int], touched: list[int]) -> None:
        self.files["invoices"] = write_invoices(self.hyper, str(self.tmp / "invoices.hyper"), rows)
        self.changes.touched[("invoices", run_id)] = [("r1", str(i)) for i in touched]

    def lines(self, run_id: str, rows: list[list], touched_parents: list[str]) -> None:
        self.files["invoice_lines"] = write_extract(self.hyper, str(self.tmp / "invoice_lines.hyper"), rows,
                                                    LINE_COLUMNS)
        self.changes.touched[("invoice_lines", run_id)] = [("r1", p) for p in touched_parents]

    def publish(self, run_id: str, **overrides):
        config = PublishConfig.from_mapping({**self.config_map, **overrides})
        return Publisher(config, self.engine, self.changes).run(run_id, dict(self.files))

    def local(self, stream: str) -> list[list]:
        return canonical_rows(read_rows(self.hyper, self.files[stream]))

    def stored(self, datasource_id: str, table: str = "Extract") -> list[list]:
        return canonical_rows(self.sb.rows(datasource_id, table=table)["rows"])

    def audit_rows(self, table):
        with self.engine.connect() as conn:
            return [row._asdict() for row in conn.execute(sa.select(table).order_by(table.c.id))]


def test_first_publish_then_incremental_upserts_and_deletes(sandbox, tmp_path, hyper):
    h = Harness(sandbox, tmp_path, hyper)
    h.invoices("run1", {i: 0 for i in range(1, 201)}, touched=list(range(1, 201)))
    first = h.publish("run1")
    assert first.ok and first.results[0].mode == "overwrite" and first.results[0].reason == "the datasource does not exist yet"
    ds_id = first.results[0].datasource_id
    assert h.stored(ds_id) == h.local("invoices")

    # run 2: two updates, one insert, two deletes
    rows = {i: 0 for i in range(1, 201) if i not in (10, 20)} | {5: 1, 6: 1, 201: 0}
    h.invoices("run2", rows, touched=[5, 6, 10, 20, 201])
    second = h.publish("run2")
    result = second.results[0]
    assert second.ok and result.mode == "incremental" and result.datasource_id == ds_id
    assert (result.rows_upserted, result.rows_deleted) == (3, 2)
    assert h.stored(ds_id) == h.local("invoices")
    assert len(h.stored(ds_id)) == 199
    # only the change travelled: the delta file, not the 200-row table, and far less than the first upload
    assert result.bytes_sent < first.results[0].bytes_sent * 1.5
    assert json.loads(h.audit_rows(audit.publishes)[1]["covered_run_ids"]) == ["invoices:run2"]

    publishes = h.audit_rows(audit.publishes)
    assert [(p["mode"], p["outcome"]) for p in publishes] == [("overwrite", "succeeded"), ("incremental", "succeeded")]
    assert publishes[1]["request_id"] and publishes[1]["job_id"] == result.job_id
    assert all(p["duration_seconds"] is not None and p["bytes_sent"] > 0 for p in publishes)
    assert {r["status"] for r in h.audit_rows(audit.publish_runs)} == {"published"}


def test_nothing_changed_sends_nothing(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper)
    h.invoices("run1", {1: 0, 2: 0}, touched=[1, 2])
    assert h.publish("run1").ok
    h.invoices("run2", {1: 0, 2: 0}, touched=[])
    report = h.publish("run2")
    assert report.ok and report.results[0].outcome == "skipped"
    assert tableau_sandbox.control("GET", "/_sandbox/counters").get("route:PATCH update_hyper_data", 0) == 0


def test_overwrite_mode_republishes_the_whole_file(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper, publish_mode="overwrite")
    h.invoices("run1", {i: 0 for i in range(1, 51)}, touched=[])
    ds_id = h.publish("run1").results[0].datasource_id
    h.invoices("run2", {i: 1 for i in range(1, 41)}, touched=[])
    report = h.publish("run2")
    assert report.ok and report.results[0].mode == "overwrite" and report.results[0].datasource_id == ds_id
    assert h.stored(ds_id) == h.local("invoices") and len(h.stored(ds_id)) == 40
    assert tableau_sandbox.control("GET", "/_sandbox/counters").get("route:PATCH update_hyper_data", 0) == 0


def test_schema_change_falls_back_to_overwrite(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper)
    h.invoices("run1", {1: 0, 2: 0}, touched=[1, 2])
    ds_id = h.publish("run1").results[0].datasource_id
    # run 2 widens the table: a new column
    from tableauhyperapi import NULLABLE, SqlType, TableDefinition

    from target_tableau_hyper.publishing.testing import INVOICE_COLUMNS

    columns = INVOICE_COLUMNS + [TableDefinition.Column("Balance", SqlType.numeric(18, 2), NULLABLE)]
    h.files["invoices"] = write_extract(hyper, str(tmp_path / "invoices.hyper"),
                                        [["r1", "1", "INV-1", Decimal("1.00"), Decimal("0.50")]], columns)
    h.changes.touched[("invoices", "run2")] = [("r1", "1"), ("r1", "2")]
    report = h.publish("run2")
    assert report.ok and report.results[0].mode == "overwrite"
    assert report.results[0].reason == "the columns or keys changed since the last publish"
    assert tableau_sandbox.rows(ds_id)["columns"] == ["realm_id", "Id", "DocNumber", "TotalAmt", "Balance"]
    assert h.stored(ds_id) == h.local("invoices")


def test_datasource_deleted_on_tableau_is_published_again(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper)
    h.invoices("run1", {1: 0}, touched=[1])
    old_id = h.publish("run1").results[0].datasource_id
    server = TSC.Server(tableau_sandbox.base_url, use_server_version=True)
    cfg = h.config_map
    with server.auth.sign_in(TSC.PersonalAccessTokenAuth(cfg["tableau_token_name"], cfg["tableau_token_secret"],
                                                         cfg["tableau_site"])):
        server.datasources.delete(old_id)
    h.invoices("run2", {1: 0, 2: 0}, touched=[2])
    report = h.publish("run2")
    result = report.results[0]
    assert report.ok and result.mode == "overwrite" and result.datasource_id != old_id
    assert h.stored(result.datasource_id) == h.local("invoices")


def test_large_file_goes_up_in_chunks(tableau_sandbox, tmp_path, hyper, monkeypatch):
    monkeypatch.setenv("TSC_FILESIZE_LIMIT_MB", "1")
    monkeypatch.setenv("TSC_CHUNK_SIZE_MB", "1")
    tableau_sandbox.control("POST", "/_sandbox/limits", json={"single_request_max_bytes": 1024 * 1024})
    h = Harness(tableau_sandbox, tmp_path, hyper, publish_mode="overwrite")
    h.invoices("run1", {i: 0 for i in range(120_000)}, touched=[])
    size = (tmp_path / "invoices.hyper").stat().st_size
    assert size > 2 * 1024 * 1024
    report = h.publish("run1")
    assert report.ok, report
    counters = tableau_sandbox.control("GET", "/_sandbox/counters")
    assert counters["route:PUT append_upload"] == -(-size // (1024 * 1024))
    assert report.results[0].bytes_sent >= size
    assert tableau_sandbox.rows(report.results[0].datasource_id)["rows"].__len__() == 120_000


def test_retry_of_the_same_batch_is_not_applied_twice(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper, job_timeout_seconds=1)
    h.invoices("run1", {1: 0, 2: 0, 3: 0}, touched=[1, 2, 3])
    ds_id = h.publish("run1").results[0].datasource_id
    # the update job is accepted but we give up waiting (as if the run crashed mid-wait)
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    h.invoices("run2", {1: 1, 3: 0, 4: 0}, touched=[1, 2, 4])
    lost = h.publish("run2")
    assert not lost.ok and "did not finish within 1 s" in lost.results[0].error
    assert [r["status"] for r in h.audit_rows(audit.publish_runs)] == ["published", "pending"]
    tableau_sandbox.control("DELETE", "/_sandbox/faults")
    assert tableau_sandbox.wait_idle()
    # the retry sends the same batch with the same request id: Tableau answers with the first job
    retry = h.publish("run2")
    assert retry.ok and retry.results[0].mode == "incremental"
    publishes = h.audit_rows(audit.publishes)
    assert publishes[1]["request_id"] == publishes[2]["request_id"]
    assert publishes[2]["job_id"] == publishes[1]["job_id"]
    assert tableau_sandbox.control("GET", "/_sandbox/counters")["update_data:duplicate_request"] == 1
    assert h.stored(ds_id) == h.local("invoices")
    assert [r["status"] for r in h.audit_rows(audit.publish_runs)] == ["published", "published"]


def test_failed_update_job_is_retried_with_a_fresh_request_id(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper)
    h.invoices("run1", {1: 0, 2: 0}, touched=[1, 2])
    ds_id = h.publish("run1").results[0].datasource_id
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"fail": {
        "type": "UpdateUploadedFile", "count": 1, "notes": "disk full"}}})
    h.invoices("run2", {1: 1, 2: 0}, touched=[1])
    failed = h.publish("run2")
    assert not failed.ok and "failed - disk full" in failed.results[0].error
    assert h.stored(ds_id) != h.local("invoices")
    retry = h.publish("run2")
    assert retry.ok
    publishes = h.audit_rows(audit.publishes)
    assert publishes[1]["error_code"] == "job_failed"
    assert publishes[2]["request_id"] == publishes[1]["request_id"] + "-r1"
    assert h.stored(ds_id) == h.local("invoices")


def test_failed_publish_stays_pending_and_the_next_run_covers_it(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper)
    h.invoices("run1", {i: 0 for i in range(1, 11)}, touched=list(range(1, 11)))
    ds_id = h.publish("run1").results[0].datasource_id
    project_id = tableau_sandbox.control("GET", "/_sandbox/state")["datasources"][0]["project_id"]
    tableau_sandbox.control("POST", "/_sandbox/permissions", json={"project_id": project_id, "capability": "Write"})

    h.invoices("run2", {i: 0 for i in range(1, 11) if i != 2} | {3: 1}, touched=[2, 3])
    denied = h.publish("run2")
    assert not denied.ok
    assert "permission denied" in denied.results[0].error and "Tableau error 403004" in denied.results[0].error
    assert [(r["run_id"], r["status"]) for r in h.audit_rows(audit.publish_runs)] == [
        ("run1", "published"), ("run2", "pending")]

    tableau_sandbox.control("DELETE", "/_sandbox/permissions")
    h.invoices("run3", {i: 0 for i in range(1, 11) if i != 2} | {3: 1, 4: 2, 11: 0}, touched=[4, 11])
    report = h.publish("run3")
    assert report.ok and report.results[0].mode == "incremental"
    publishes = h.audit_rows(audit.publishes)
    assert json.loads(publishes[-1]["covered_run_ids"]) == ["invoices:run2", "invoices:run3"]
    assert (report.results[0].rows_upserted, report.results[0].rows_deleted) == (3, 1)
    assert h.stored(ds_id) == h.local("invoices")
    assert {r["status"] for r in h.audit_rows(audit.publish_runs)} == {"published"}


class FakeTarget:
    def __init__(self, config):
        self.config = config


def test_publish_after_run_fails_the_run_only_when_configured(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper)
    h.invoices("run1", {1: 0}, touched=[1])
    bad = {**h.config_map, "tableau_project": "No Such Project"}
    with pytest.raises(PublishFailedError, match="project 'No Such Project' not found") as caught:
        publish_after_run(FakeTarget(bad), "run1", h.files)
    assert "stay pending" in str(caught.value)
    assert h.config_map["tableau_token_secret"] not in str(caught.value)
    report = publish_after_run(FakeTarget({**bad, "publish_failure_fails_run": False}), "run1", h.files)
    assert not report.ok
    assert publish_after_run(FakeTarget({**h.config_map, "publish": False}), "run1", h.files) is None
    rows = h.audit_rows(audit.publishes)
    assert [r["outcome"] for r in rows] == ["failed", "failed"] and rows[0]["error_code"] == "project"
    assert [r["status"] for r in h.audit_rows(audit.publish_runs)] == ["pending"]


def test_line_stream_replaces_changed_parents(tableau_sandbox, tmp_path, hyper):
    h = Harness(tableau_sandbox, tmp_path, hyper)
    lines = [["r1", t, i, Decimal(f"{t}.{i}0")] for t in ("1", "2", "3") for i in range(3)]
    h.lines("run1", lines, touched_parents=["1", "2", "3"])
    ds_id = h.publish("run1").results[0].datasource_id
    # txn 1 shrinks to one changed line, txn 2 is deleted, txn 4 is new
    lines = [["r1", "1", 0, Decimal("9.99")]] + [["r1", "3", i, Decimal(f"3.{i}0")] for i in range(3)] + \
        [["r1", "4", 0, Decimal("4.00")]]
    h.lines("run2", lines, touched_parents=["1", "2", "4"])
    report = h.publish("run2")
    assert report.ok and report.results[0].mode == "incremental"
    assert h.stored(ds_id) == h.local("invoice_lines")


def test_one_multi_table_datasource(tableau_cloud_sandbox, tmp_path, hyper):
    h = Harness(tableau_cloud_sandbox, tmp_path, hyper, datasource_name="QuickBooks Online")
    h.invoices("run1", {1: 0, 2: 0}, touched=[1, 2])
    h.lines("run1", [["r1", "1", 0, Decimal("1.00")]], touched_parents=["1"])
    first = h.publish("run1")
    assert first.ok and [r.datasource_name for r in first.results] == ["QuickBooks Online"]
    ds_id = first.results[0].datasource_id
    h.invoices("run2", {1: 3, 2: 0, 3: 0}, touched=[1, 3])
    h.lines("run2", [["r1", "1", 0, Decimal("2.00")], ["r1", "1", 1, Decimal("3.00")]], touched_parents=["1"])
    second = h.publish("run2")
    assert second.ok and second.results[0].mode == "incremental"
    assert h.stored(ds_id, table="invoices") == h.local("invoices")
    assert h.stored(ds_id, table="invoice_lines") == h.local("invoice_lines")


def test_streams_sharing_the_targets_multi_table_file(tableau_sandbox, tmp_path, hyper):
    """The core's `multi_table_file` puts every stream in one file (`Extract.<stream>`); with a
    per-stream datasource name each stream still gets its own single-table datasource."""
    from target_tableau_hyper.publishing.hyperfiles import build_combined

    h = Harness(tableau_sandbox, tmp_path, hyper)
    shared = str(tmp_path / "qbo.hyper")

    def write(run_id, invoices, lines, touched, parents):
        h.invoices(run_id, invoices, touched)
        h.lines(run_id, lines, parents)
        build_combined(hyper, [("invoices", h.files["invoices"]), ("invoice_lines", h.files["invoice_lines"])],
                       shared)

    write("run1", {1: 0, 2: 0}, [["r1", "1", 0, Decimal("1.00")]], [1, 2], ["1"])
    h.files = {"invoices": shared, "invoice_lines": shared}
    first = h.publish("run1")
    assert first.ok and {r.mode for r in first.results} == {"overwrite"}
    ids = {r.datasource_name: r.datasource_id for r in first.results}

    write("run2", {1: 1, 3: 0}, [["r1", "1", 0, Decimal("1.50")], ["r1", "3", 0, Decimal("3.00")]], [1, 2, 3],
          ["1", "3"])
    singles = {"invoices": str(tmp_path / "invoices.hyper"), "invoice_lines": str(tmp_path / "invoice_lines.hyper")}
    h.files = {"invoices": shared, "invoice_lines": shared}
    second = h.publish("run2")
    assert second.ok and {r.mode for r in second.results} == {"incremental"}
    h.files = singles
    assert h.stored(ids["QBO invoices"]) == h.local("invoices")
    assert h.stored(ids["QBO invoice_lines"]) == h.local("invoice_lines")
