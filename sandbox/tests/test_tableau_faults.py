"""Fault injection (5xx, latency, held requests), Cloud's concurrency limit (429), counters and the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pytest
import requests
import tableauserverclient as TSC
from tableauserverclient.server.endpoint.exceptions import InternalServerError, ServerResponseError

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
