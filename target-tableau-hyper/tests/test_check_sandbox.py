"""`target-tableau-hyper check`: succeeds against the sandbox, and names every failure in plain words."""

from __future__ import annotations

import json
import socket

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from target_tableau_hyper.publishing.check import main
from target_tableau_hyper.publishing.testing import ThreadedUvicorn, jwt_overrides, sandbox_config


def run_check(tmp_path, capsys, config, *extra):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code = main(["--config", str(path), *extra])
    out = capsys.readouterr().out
    return code, out


@pytest.mark.parametrize("flavor, auth", [("server", "pat"), ("cloud", "pat"), ("cloud", "jwt")])
def test_check_passes_and_leaves_nothing_behind(tableau_sandbox_factory, tmp_path, capsys, flavor, auth):
    sb = tableau_sandbox_factory(flavor)
    config = sandbox_config(sb, **(jwt_overrides(sb) if auth == "jwt" else {}))
    code, out = run_check(tmp_path, capsys, config)
    assert code == 0, out
    assert f"Tableau {'Cloud' if flavor == 'cloud' else 'Server'}" in out
    assert "ok    project: 'ML Connector' found" in out
    assert "ok    permission: published and deleted a test datasource" in out
    assert sb.control("GET", "/_sandbox/state")["datasources"] == []
    secret = config.get("tableau_token_secret") or config["tableau_jwt_secret"]
    assert secret not in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_wrong_server_unreachable(tableau_sandbox, tmp_path, capsys):
    config = sandbox_config(tableau_sandbox, tableau_server_url=f"http://127.0.0.1:{_free_port()}")
    code, out = run_check(tmp_path, capsys, config)
    assert code == 1 and "FAIL  server: reading the server info: cannot reach Tableau" in out


def test_wrong_server_not_tableau(tableau_sandbox, tmp_path, capsys):
    async def page(request):
        return HTMLResponse("<html>Intranet</html>", status_code=404)

    with ThreadedUvicorn(Starlette(routes=[Route("/{path:path}", page, methods=["GET", "POST"])])) as web:
        code, out = run_check(tmp_path, capsys, sandbox_config(tableau_sandbox, tableau_server_url=web.base_url))
    assert code == 1 and "FAIL  server:" in out and "not answer like a Tableau REST API" in out


def test_bad_token(tableau_sandbox, tmp_path, capsys):
    code, out = run_check(tmp_path, capsys, sandbox_config(tableau_sandbox, tableau_token_secret="not-the-secret"))
    assert code == 1 and "FAIL  sign-in:" in out and "sign-in refused" in out and "401001" in out
    assert "not-the-secret" not in out


def test_wrong_site(tableau_sandbox, tmp_path, capsys):
    code, out = run_check(tmp_path, capsys, sandbox_config(tableau_sandbox, tableau_site="finance"))
    assert code == 1 and "FAIL  site: signing in to Tableau: site 'finance' does not exist" in out


def test_missing_project(tableau_sandbox, tmp_path, capsys):
    code, out = run_check(tmp_path, capsys, sandbox_config(tableau_sandbox, tableau_project="Finance/QBO"))
    assert code == 1 and "FAIL  project: project 'Finance/QBO' not found: there is no 'Finance'" in out
    assert "ML Connector" in out  # it lists what exists


def test_missing_permission(tableau_cloud_sandbox, tmp_path, capsys):
    state = tableau_cloud_sandbox.control("GET", "/_sandbox/state")
    project_id = next(p["id"] for p in state["projects"] if p["name"] == "ML Connector")
    tableau_cloud_sandbox.control("POST", "/_sandbox/permissions", json={"project_id": project_id,
                                                                        "capability": "Publish"})
    code, out = run_check(tmp_path, capsys, sandbox_config(tableau_cloud_sandbox))
    assert code == 1 and "FAIL  permission:" in out and "permission denied" in out and "403004" in out
    assert "ok    project:" in out
    # without the dry publish the permission is not proven, and the output says so
    code, out = run_check(tmp_path, capsys, sandbox_config(tableau_cloud_sandbox), "--no-dry-publish")
    assert code == 0 and "skip  permission: dry publish disabled" in out


def test_unusable_config(tmp_path, capsys):
    code, out = run_check(tmp_path, capsys, {"tableau_server_url": "https://t.example.com"})
    assert code == 2 and "FAIL  config: No Tableau credentials" in out
    missing = main(["--config", str(tmp_path / "nope.json")])
    assert missing == 2 and "cannot read" in capsys.readouterr().out
