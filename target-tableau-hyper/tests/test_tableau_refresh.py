"""Refresh after publishing: direct refresh on Cloud, the extract-refresh task on Server, workbook
refresh, failed and timed-out jobs recorded in the audit trail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.changes import StreamKeys
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.hyperfiles import hyper_process
from target_tableau_hyper.publishing.publisher import Publisher
from target_tableau_hyper.publishing.refresh import refresh_method
from target_tableau_hyper.publishing.testing import RecordedChanges, sandbox_config, write_invoices


@pytest.fixture(scope="module")
def hyper():
    with hyper_process() as process:
        yield process


class Run:
    def __init__(self, sb, tmp_path, hyper):
        self.sb, self.hyper = sb, hyper
        self.engine = audit.make_engine(f"sqlite:///{tmp_path}/audit.sqlite")
        self.changes = RecordedChanges(keys={"invoices": StreamKeys(["realm_id", "Id"], ["realm_id", "Id"], False)})
        self.path = str(tmp_path / "invoices.hyper")

    def publish(self, run_id, rows, **overrides):
        write_invoices(self.hyper, self.path, rows)
        self.changes.touched[("invoices", run_id)] = [("r1", str(i)) for i in rows]
        config = PublishConfig.from_mapping(sandbox_config(self.sb, **overrides))
        return Publisher(config, self.engine, self.changes).run(run_id, {"invoices": self.path})

    def refreshes(self):
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(sa.select(audit.refreshes).order_by(audit.refreshes.c.id))]


def test_auto_refresh_picks_the_method_of_each_platform():
    assert refresh_method("auto", "cloud") == "datasource"
    assert refresh_method("auto", "server") == "task"
    assert refresh_method("schedule", "cloud") == "task"
    assert refresh_method("none", "server") is None


def test_cloud_refreshes_the_datasource_directly(tableau_cloud_sandbox, tmp_path, hyper):
    run = Run(tableau_cloud_sandbox, tmp_path, hyper)
    report = run.publish("run1", {1: 0}, refresh="auto")
    assert report.ok
    (row,) = run.refreshes()
    assert (row["target_kind"], row["method"], row["outcome"]) == ("datasource", "datasource", "succeeded")
    assert row["job_id"] and row["target_id"] == report.results[0].datasource_id and row["duration_seconds"] >= 0
    counters = tableau_cloud_sandbox.control("GET", "/_sandbox/counters")
    assert counters["route:POST refresh_datasource"] == 1 and "route:POST run_task_now" not in counters


def test_server_runs_the_extract_refresh_task(tableau_sandbox, tmp_path, hyper):
    run = Run(tableau_sandbox, tmp_path, hyper)
    ds_id = run.publish("run1", {1: 0}).results[0].datasource_id
    task = tableau_sandbox.control("POST", "/_sandbox/tasks", json={"datasource_id": ds_id})
    report = run.publish("run2", {1: 1}, refresh="auto")
    assert report.ok
    (row,) = run.refreshes()
    assert (row["method"], row["outcome"]) == ("task", "succeeded")
    counters = tableau_sandbox.control("GET", "/_sandbox/counters")
    assert counters["route:POST run_task_now"] == 1 and "route:POST refresh_datasource" not in counters
    state = tableau_sandbox.control("GET", "/_sandbox/state")
    assert task["id"] and state["datasources"][0]["last_refreshed_at"]


def test_workbooks_are_refreshed_after_publishing(tableau_sandbox, tmp_path, hyper):
    run = Run(tableau_sandbox, tmp_path, hyper)
    ds_id = run.publish("run1", {1: 0}).results[0].datasource_id
    tableau_sandbox.control("POST", "/_sandbox/workbooks", json={"name": "Finance P&L", "datasource_ids": [ds_id]})
    report = run.publish("run2", {1: 1}, refresh="datasource", refresh_workbooks=["Finance P&L"])
    assert report.ok
    rows = run.refreshes()
    assert [(r["target_kind"], r["target_name"], r["outcome"]) for r in rows] == [
        ("datasource", "QBO invoices", "succeeded"), ("workbook", "Finance P&L", "succeeded")]


def test_failed_refresh_job_is_recorded_and_reported(tableau_cloud_sandbox, tmp_path, hyper):
    run = Run(tableau_cloud_sandbox, tmp_path, hyper)
    tableau_cloud_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"fail": {
        "type": "RefreshExtract", "count": 1, "notes": "credentials expired"}}})
    report = run.publish("run1", {1: 0}, refresh="auto")
    assert report.results[0].outcome == "succeeded"  # the data is published ...
    assert not report.ok and "credentials expired" in report.error  # ... but the run reports the refresh
    (row,) = run.refreshes()
    assert row["outcome"] == "failed" and "credentials expired" in row["error"]


def test_missing_workbook_is_named(tableau_cloud_sandbox, tmp_path, hyper):
    run = Run(tableau_cloud_sandbox, tmp_path, hyper)
    report = run.publish("run1", {1: 0}, refresh_workbooks=["No Such Workbook"])
    assert not report.ok and "workbook 'No Such Workbook' was not found" in report.error


def test_publish_job_timeout_and_failure_are_recorded(tableau_sandbox, tmp_path, hyper):
    run = Run(tableau_sandbox, tmp_path, hyper)
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    timed_out = run.publish("run1", {1: 0}, job_timeout_seconds=1)
    assert not timed_out.ok and "did not finish within 1 s" in timed_out.results[0].error
    tableau_sandbox.control("DELETE", "/_sandbox/faults")
    assert tableau_sandbox.wait_idle()  # the released job finishes before the next fault is armed
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"fail": {
        "type": "PublishDatasource", "count": 1, "notes": "extract is corrupt"}}})
    failed = run.publish("run1", {1: 0})
    assert not failed.ok and "failed - extract is corrupt" in failed.results[0].error
    with run.engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(sa.select(audit.publishes).order_by(audit.publishes.c.id))]
    assert [(r["outcome"], r["error_code"]) for r in rows] == [("failed", "job_timeout"), ("failed", "job_failed")]
    assert all(r["job_id"] for r in rows)
