"""Sessions against the sandbox: expiry mid-run, PAT invalidation, a second sign-in with the same PAT,
429 and 5xx with backoff, one session per PAT at a time, Connected App JWT, wrong site/project."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.changes import StreamKeys
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.errors import ProjectNotFoundError, SignInError, SiteNotFoundError
from target_tableau_hyper.publishing.hyperfiles import hyper_process
from target_tableau_hyper.publishing.publisher import Publisher
from target_tableau_hyper.publishing.session import TableauSession
from target_tableau_hyper.publishing.testing import RecordedChanges, jwt_overrides, sandbox_config, write_invoices


@pytest.fixture(scope="module")
def hyper():
    with hyper_process() as process:
        yield process


class Run:
    """One publisher with a recording session factory (to look at the session afterwards)."""

    def __init__(self, sb, tmp_path, hyper, **overrides):
        self.sb = sb
        self.config = PublishConfig.from_mapping(sandbox_config(sb, **overrides))
        self.engine = audit.make_engine(f"sqlite:///{tmp_path}/audit.sqlite")
        self.changes = RecordedChanges(keys={"invoices": StreamKeys(["realm_id", "Id"], ["realm_id", "Id"], False)})
        self.path = str(tmp_path / "invoices.hyper")
        self.hyper = hyper
        self.sessions: list[TableauSession] = []

    def factory(self, config):
        session = TableauSession(config, backoff_factor=0.05)
        self.sessions.append(session)
        return session

    def publish(self, run_id, rows, touched):
        write_invoices(self.hyper, self.path, rows)
        self.changes.touched[("invoices", run_id)] = [("r1", str(i)) for i in touched]
        return Publisher(self.config, self.engine, self.changes, session_factory=self.factory).run(
            run_id, {"invoices": self.path})

    def in_background(self, run_id, rows, touched):
        box = {}
        thread = threading.Thread(target=lambda: box.setdefault("report", self.publish(run_id, rows, touched)))
        thread.start()
        return thread, box

    def wait_for_held_job(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            counters = self.sb.control("GET", "/_sandbox/counters")
            if counters.get("route:POST publish_datasource") or counters.get("route:PATCH update_hyper_data"):
                time.sleep(0.3)  # the client is now polling the held job
                return
            time.sleep(0.05)
        raise AssertionError("the publish never reached Tableau")

    def pending(self):
        with self.engine.connect() as conn:
            return [r.run_id for r in conn.execute(sa.select(audit.publish_runs)
                                                   .where(audit.publish_runs.c.status == "pending"))]


def test_session_expiring_mid_run_signs_in_again(tableau_sandbox, tmp_path, hyper):
    run = Run(tableau_sandbox, tmp_path, hyper)
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    thread, box = run.in_background("run1", {1: 0, 2: 0}, [1, 2])
    run.wait_for_held_job()
    tableau_sandbox.control("POST", "/_sandbox/clock", json={"advance_minutes": 241})  # Server: 240 min sessions
    time.sleep(0.5)
    tableau_sandbox.control("POST", "/_sandbox/jobs/release", json={})
    thread.join(60)
    report = box["report"]
    assert report.ok, report
    assert run.sessions[0].sign_ins == 2
    assert tableau_sandbox.control("GET", "/_sandbox/counters").get("status:401", 0) >= 1


def test_second_sign_in_with_the_same_pat_elsewhere_is_survived(tableau_cloud_sandbox, tmp_path, hyper):
    import tableauserverclient as TSC

    run = Run(tableau_cloud_sandbox, tmp_path, hyper)
    tableau_cloud_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    thread, box = run.in_background("run1", {1: 0}, [1])
    run.wait_for_held_job()
    # someone else signs in with the same PAT: Tableau invalidates our token (401002)
    other = TSC.Server(tableau_cloud_sandbox.base_url, use_server_version=True)
    other.auth.sign_in(TSC.PersonalAccessTokenAuth(run.config.token_name, run.config.token_secret, run.config.site))
    tableau_cloud_sandbox.control("POST", "/_sandbox/jobs/release", json={})
    thread.join(60)
    assert box["report"].ok and run.sessions[0].sign_ins == 2


def test_revoked_pat_fails_clearly_and_stays_pending(tableau_sandbox, tmp_path, hyper):
    run = Run(tableau_sandbox, tmp_path, hyper)
    assert run.publish("run1", {1: 0}, [1]).ok
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    thread, box = run.in_background("run2", {1: 1}, [1])
    run.wait_for_held_job()
    store = tableau_sandbox.sandbox.store  # revoke the PAT: new secret, every session gone
    with store.lock:
        store.pat["token_secret"] = "revoked-" + store.pat["token_secret"]
        store.sessions.clear()
    tableau_sandbox.control("POST", "/_sandbox/jobs/release", json={})
    thread.join(60)
    report = box["report"]
    assert not report.ok
    error = report.results[0].error
    assert "sign-in refused" in error and "401001" in error and run.config.token_secret not in error
    assert run.pending() == ["run2"]


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limit_and_unavailable_are_retried_with_backoff(tableau_cloud_sandbox, tmp_path, hyper, status):
    run = Run(tableau_cloud_sandbox, tmp_path, hyper)
    tableau_cloud_sandbox.control("POST", "/_sandbox/faults", json={"http": [
        {"method": "POST", "path": "/datasources$", "status": status, "count": 2, "retry_after": 0},
        {"method": "GET", "path": "/jobs/", "status": status, "count": 1}]})
    report = run.publish("run1", {1: 0, 2: 0}, [1, 2])
    assert report.ok, report
    counters = tableau_cloud_sandbox.control("GET", "/_sandbox/counters")
    assert counters[f"status:{status}"] == 3
    assert tableau_cloud_sandbox.rows(report.results[0].datasource_id)["rows"].__len__() == 2


def test_persistent_server_errors_fail_clearly(tableau_sandbox, tmp_path, hyper):
    run = Run(tableau_sandbox, tmp_path, hyper)
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"http": [
        {"method": "POST", "path": "/datasources$", "status": 500, "count": -1}]})
    report = run.publish("run1", {1: 0}, [1])
    assert not report.ok and "HTTP 500" in report.results[0].error
    assert run.pending() == ["run1"]


def test_two_runs_with_one_pat_never_hold_sessions_at_once(tableau_sandbox, tmp_path, hyper):
    first = Run(tableau_sandbox, tmp_path / "a", hyper)
    second = Run(tableau_sandbox, tmp_path / "b", hyper)
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "b").mkdir(exist_ok=True)
    first.path, second.path = str(tmp_path / "a" / "invoices.hyper"), str(tmp_path / "b" / "invoices.hyper")
    second.config = PublishConfig.from_mapping(sandbox_config(tableau_sandbox, datasource_name="Other {stream}"))
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"jobs": {"delay_seconds": 0.5}})
    threads = [first.in_background("run1", {1: 0}, [1]), second.in_background("run1", {2: 0}, [2])]
    for thread, _ in threads:
        thread.join(120)
    assert all(box["report"].ok for _, box in threads)
    counters = tableau_sandbox.control("GET", "/_sandbox/counters")
    assert counters.get("status:401", 0) == 0  # nobody's token was invalidated by the other's sign-in
    assert first.sessions[0].sign_ins == 1 and second.sessions[0].sign_ins == 1


def test_connected_app_jwt_publishes(tableau_cloud_sandbox, tmp_path, hyper):
    run = Run(tableau_cloud_sandbox, tmp_path, hyper, refresh="auto", **jwt_overrides(tableau_cloud_sandbox))
    assert run.config.auth_kind == "jwt"
    first = run.publish("run1", {1: 0, 2: 0}, [1, 2])
    second = run.publish("run2", {1: 1, 2: 0}, [1])
    assert first.ok and second.ok and second.results[0].mode == "incremental"
    assert run.sessions[0].flavor == "cloud"


def test_wrong_site_and_missing_project_are_named(tableau_sandbox, tmp_path, hyper):
    run = Run(tableau_sandbox, tmp_path, hyper, tableau_site="nosuchsite")
    report = run.publish("run1", {1: 0}, [1])
    assert not report.ok and "site 'nosuchsite' does not exist" in report.error
    with pytest.raises(SiteNotFoundError):
        with TableauSession(run.config):
            pass
    run = Run(tableau_sandbox, tmp_path, hyper, tableau_project="ML Connector/Missing")
    with pytest.raises(ProjectNotFoundError, match="no 'Missing' in ML Connector"):
        with TableauSession(run.config) as session:
            from target_tableau_hyper.publishing.lookup import find_project

            find_project(session, run.config.project_path)
    bad = Run(tableau_sandbox, tmp_path, hyper, tableau_token_secret="wrong")
    with pytest.raises(SignInError, match="sign-in refused"):
        with TableauSession(bad.config):
            pass


def test_flavor_is_detected_like_real_tableau(tableau_sandbox, tableau_cloud_sandbox, tmp_path):
    for sb, expected in ((tableau_sandbox, "server"), (tableau_cloud_sandbox, "cloud")):
        with TableauSession(PublishConfig.from_mapping(sandbox_config(sb))) as session:
            assert session.flavor == expected
