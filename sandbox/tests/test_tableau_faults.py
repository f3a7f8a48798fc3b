"""Fault injection (5xx, latency, held requests), Cloud's concurrency limit (429), counters and the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pytest
import requests
import tableauserverclient as TSC
from tableauserverclient.server.endpoint.exceptions import FailedSignInError, InternalServerError, ServerResponseError

NS = {"t": "http://tableau.com/api"}


def sign_in(sb):
    creds = sb.credentials()
    server = TSC.Server(sb.base_url, use_server_version=True)
    server.auth.sign_in(TSC.PersonalAccessTokenAuth(creds["pat"]["token_name"], creds["pat"]["token_secret"],
                                                    site_id=creds["site_content_url"]))
    return server


@pytest.mark.parametrize("flavor", ["server", "cloud"])
@pytest.mark.parametrize("status", [500, 503])
def test_injected_5xx_hits_count_requests_then_clears(tableau_sandbox_factory, flavor, status):
    sb = tableau_sandbox_factory(flavor)
    server = sign_in(sb)
    sb.control("POST", "/_sandbox/faults",
               json={"http": [{"method": "GET", "path": "/projects$", "status": status, "count": 2}]})
    for _ in range(2):
        with pytest.raises(InternalServerError) as err:
            server.projects.get()
        assert err.value.code == status
    assert server.projects.get()[0]  # third call goes through
    counters = sb.control("GET", "/_sandbox/counters")
    assert counters[f"status:{status}"] == 2 and counters["route:GET list_projects"] == 3


def test_fault_answer_is_tableau_xml_with_retry_after(tableau_sandbox):
    server = sign_in(tableau_sandbox)
    tableau_sandbox.control("POST", "/_sandbox/faults", json={"http": [
        {"path": "/datasources$", "status": 503, "count": -1, "retry_after": 7}]})
    url = f"{tableau_sandbox.base_url}/api/3.25/sites/{server.site_id}/datasources"
    for _ in range(3):
        r = requests.get(url, headers={"X-Tableau-Auth": server.auth_token}, timeout=10)
        assert r.status_code == 503 and r.headers["Retry-After"] == "7"
        assert ET.fromstring(r.content).find("t:error", NS).get("code") == "503000"
    tableau_sandbox.control("DELETE", "/_sandbox/faults")
    assert requests.get(url, headers={"X-Tableau-Auth": server.auth_token}, timeout=10).status_code == 200


def _hold_one_request(sb, server, path_regex):
    """Start a request that the sandbox parks until released; returns (thread, result holder)."""
    sb.control("POST", "/_sandbox/faults", json={"http": [{"path": path_regex, "hold": True, "count": 1}]})
    result = {}

    def call():
        result["items"] = server.projects.get()[0]

    t = threading.Thread(target=call)
    t.start()
    return t, result


def _wait_held(sb, n=1):
    import time
    deadline = time.monotonic() + 10
    while sb.control("GET", "/_sandbox/faults")["held_requests"] < n:
        assert time.monotonic() < deadline, "request was not held"
        time.sleep(0.01)


def test_cloud_concurrency_limit_answers_429(tableau_cloud_sandbox):
    sb = tableau_cloud_sandbox
    server = sign_in(sb)
    sb.control("POST", "/_sandbox/limits", json={"max_concurrent_requests": 1})
    t, result = _hold_one_request(sb, server, "/projects$")
    _wait_held(sb)
    with pytest.raises(ServerResponseError) as err:  # the held request occupies the only slot
        server.datasources.get()
    assert err.value.code == "429000"
    sb.control("POST", "/_sandbox/faults/release")
    t.join(10)
    assert result["items"]
    assert server.datasources.get()[0] == []  # slot free again
    assert sb.control("GET", "/_sandbox/counters")["concurrency:rejected"] == 1


def test_cloud_default_limit_and_server_unlimited(tableau_sandbox_factory):
    cloud = tableau_sandbox_factory("cloud")
    assert cloud.control("GET", "/_sandbox/limits")["max_concurrent_requests"] == 8
    server_sb = tableau_sandbox_factory("server")
    assert server_sb.control("GET", "/_sandbox/limits")["max_concurrent_requests"] is None
    server = sign_in(server_sb)
    t, result = _hold_one_request(server_sb, server, "/projects$")
    _wait_held(server_sb)
    assert server.datasources.get()[0] == []  # no 429 on Server
    server_sb.control("POST", "/_sandbox/faults/release")
    t.join(10)
    assert result["items"]


def test_control_api_rejects_bad_input(tableau_sandbox):
    r = requests.post(tableau_sandbox.base_url + "/_sandbox/clock", data=b"{not json", timeout=10)
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]
    r = requests.post(tableau_sandbox.base_url + "/_sandbox/tasks", json={"datasource_id": "nope"}, timeout=10)
    assert r.status_code == 400
    r = requests.post(tableau_sandbox.base_url + "/_sandbox/workbooks", json={"name": "x", "datasource_ids": ["no"]},
                      timeout=10)
    assert r.status_code == 400
    r = requests.get(tableau_sandbox.base_url + "/_sandbox/datasources/nope/rows", timeout=10)
    assert r.status_code == 404


def test_cli_serve_prints_ready_line_and_serves():
    proc = subprocess.Popen([sys.executable, "-m", "tableau_sandbox.cli", "serve", "--host", "127.0.0.1",
                             "--port", "0", "--flavor", "cloud"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("Tableau sandbox ready at http://127.0.0.1:")
        base = line.rsplit(" ", 1)[-1]
        info = TSC.Server(base).server_info.get()
        assert info.rest_api_version == "3.27"
        assert requests.get(base + "/_sandbox/credentials", timeout=10).json()["site_content_url"] == "mlconnector"
    finally:
        proc.terminate()
        proc.wait(10)


def test_control_schedules_state_and_job_release(tableau_sandbox_factory, tmp_path):
    from decimal import Decimal

    from tableauhyperapi import SqlType

    from tableau_sandbox.testing import write_hyper

    sb = tableau_sandbox_factory("server")
    server = sign_in(sb)
    made = sb.control("POST", "/_sandbox/schedules", json={"name": "Nightly QBO", "frequency": "Daily"})
    assert made["id"] in {s.id for s in server.schedules.get()[0]}
    state = sb.control("GET", "/_sandbox/state")
    assert state["flavor"] == "server" and state["user"]["name"] == sb.credentials()["connected_app"]["username"]
    project_id = next(p["id"] for p in state["projects"] if p["name"] == sb.credentials()["project"])
    path = write_hyper(tmp_path / "a.hyper", [("id", SqlType.big_int()), ("x", SqlType.numeric(5, 2))],
                       [(1, Decimal("1.50"))])
    ds = server.datasources.publish(TSC.DatasourceItem(project_id, name="A"), path, "CreateNew")
    task = sb.control("POST", "/_sandbox/tasks", json={"datasource_id": ds.id, "schedule_id": made["id"]})
    assert server.tasks.get_by_id(task["id"]).schedule_id == made["id"]
    sb.control("POST", "/_sandbox/faults", json={"jobs": {"hold": True}})
    first, second = server.datasources.refresh(ds), None
    wb = sb.control("POST", "/_sandbox/workbooks", json={"name": "W", "datasource_ids": [ds.id]})
    second = server.workbooks.refresh(wb["id"])
    assert sb.control("POST", "/_sandbox/jobs/release", json={"job_id": first.id})["released"] == 1
    assert server.jobs.wait_for_job(first).finish_code == 0
    assert server.jobs.get_by_id(second.id).started_at is None  # still held
    assert sb.control("POST", "/_sandbox/jobs/release", json={})["released"] == 1
    assert server.jobs.wait_for_job(second).finish_code == 0
    assert sb.control("GET", "/_sandbox/state")["datasources"][0]["last_refreshed_at"] is not None

    cloud = tableau_sandbox_factory("cloud")
    r = requests.post(cloud.base_url + "/_sandbox/schedules", json={"name": "x"}, timeout=10)
    assert r.status_code == 409


def test_clock_control(tableau_sandbox):
    from datetime import datetime
    now = tableau_sandbox.control("GET", "/_sandbox/clock")["now"]
    moved = tableau_sandbox.control("POST", "/_sandbox/clock", json={"set": "2030-01-01T00:00:00Z"})["now"]
    assert moved == "2030-01-01T00:00:00Z"
    later = tableau_sandbox.control("POST", "/_sandbox/clock", json={"advance_seconds": 90})["now"]
    assert later == "2030-01-01T00:01:30Z"
    back = tableau_sandbox.control("POST", "/_sandbox/clock", json={"reset": True})["now"]
    assert abs(datetime.fromisoformat(back.replace("Z", "+00:00")) - datetime.fromisoformat(
        now.replace("Z", "+00:00"))).total_seconds() < 120
    server = sign_in(tableau_sandbox)
    tableau_sandbox.control("POST", "/_sandbox/clock", json={"set": "2031-05-05T05:05:05Z"})
    with pytest.raises(FailedSignInError):  # years later, the old session has long expired
        server.projects.get()
    server = sign_in(tableau_sandbox)
    created = server.projects.create(TSC.ProjectItem("dated"))
    r = requests.get(f"{tableau_sandbox.base_url}/api/3.25/sites/{server.site_id}/projects?filter=name:eq:dated",
                     headers={"X-Tableau-Auth": server.auth_token}, timeout=10)
    el = ET.fromstring(r.content).find("t:projects/t:project", NS)
    assert el.get("id") == created.id and el.get("createdAt").startswith("2031-05-05T05:05")


def test_unexpected_error_still_answers_tableau_xml(tableau_sandbox, monkeypatch):
    import tableau_sandbox.rest.projects as projects_module

    server = sign_in(tableau_sandbox)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(projects_module, "project_el", broken)
    with pytest.raises(InternalServerError) as err:
        server.projects.get()
    assert err.value.code == 500
    r = requests.get(f"{tableau_sandbox.base_url}/api/3.25/sites/{server.site_id}/projects",
                     headers={"X-Tableau-Auth": server.auth_token}, timeout=10)
    assert ET.fromstring(r.content).find("t:error", NS).get("code") == "500000"
    monkeypatch.undo()
    assert server.projects.get()[0]
