"""Run a sandbox in-process for tests: ``with TableauSandboxServer(flavor="cloud") as sb: ...``."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from ml_testing.uvicorn_thread import UvicornThread
from tableau_sandbox.app import create_app


class TableauSandboxServer:
    """uvicorn in a background thread on 127.0.0.1 and a free port.

    ``base_url`` is the server URL to give TSC (``TSC.Server(sb.base_url)``) or raw REST clients.
    """

    def __init__(self, flavor: str = "server", host: str = "127.0.0.1", data_dir: Path | None = None) -> None:
        self.flavor = flavor
        self.host = host
        self.data_dir = data_dir
        self.base_url = ""
        self._uvicorn: UvicornThread | None = None
        self.app = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "TableauSandboxServer":
        self.app = create_app(self.flavor, self.data_dir)
        self._uvicorn = UvicornThread(self.app, name="tableau-sandbox", host=self.host, lifespan="on")
        self.base_url = self._uvicorn.start()
        return self

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.stop()
        self._uvicorn = None

    def __enter__(self) -> "TableauSandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers
    @property
    def sandbox(self):
        """The in-process Sandbox object (store, runner, notifier) for white-box assertions."""
        return self.app.state.sandbox

    def credentials(self) -> dict[str, Any]:
        return self.control("GET", "/_sandbox/credentials")

    def control(self, method: str, path: str, json: Any = None) -> Any:
        resp = requests.request(method, self.base_url + path, json=json, timeout=60)
        if resp.status_code >= 400:
            raise RuntimeError(f"control {method} {path} failed: {resp.status_code} {resp.text}")
        return resp.json()

    def rows(self, datasource_id: str, schema: str = "Extract", table: str = "Extract") -> dict[str, Any]:
        """What Tableau would show: {"columns": [...], "rows": [[...], ...]} of the stored .hyper."""
        return self.control("GET", f"/_sandbox/datasources/{datasource_id}/rows?schema={schema}&table={table}")

    def download_hyper(self, datasource_id: str, dest: Path | None = None) -> Path:
        """Download the stored .hyper file of a datasource (as Tableau holds it now)."""
        resp = requests.get(f"{self.base_url}/_sandbox/datasources/{datasource_id}/file", timeout=60)
        resp.raise_for_status()
        if dest is None:
            dest = Path(tempfile.mkdtemp(prefix="tableau-sandbox-dl-")) / f"{datasource_id}.hyper"
        dest.write_bytes(resp.content)
        return dest

    def wait_idle(self) -> bool:
        """Wait until no job is running (held jobs excepted) and every webhook delivery was attempted."""
        return self.control("POST", "/_sandbox/idle")["idle"]

    def deliveries(self) -> list[dict[str, Any]]:
        return self.control("GET", "/_sandbox/webhooks/deliveries")["deliveries"]


# ---------------------------------------------------------------------- test helpers
def tsc_sign_in(sb: TableauSandboxServer):
    """Sign in with the sandbox's PAT through tableauserverclient; returns (server, the default project)."""
    import tableauserverclient as TSC

    creds = sb.credentials()
    server = TSC.Server(sb.base_url, use_server_version=True)
    server.auth.sign_in(TSC.PersonalAccessTokenAuth(creds["pat"]["token_name"], creds["pat"]["token_secret"],
                                                    site_id=creds["site_content_url"]))
    project = next(p for p in TSC.Pager(server.projects) if p.name == creds["project"])
    return server, project


def connected_app_jwt(credentials: dict[str, Any], scopes: list[str] | None = None, lifetime_s: int = 300,
                      now: float | None = None, **claims: Any) -> str:
    """A connected-app (direct trust) JWT for the sandbox's credentials; ``claims`` override defaults."""
    import uuid

    import jwt

    app = credentials["connected_app"]
    issued = time.time() if now is None else now
    body = {"iss": app["client_id"], "sub": app["username"], "aud": "tableau", "exp": int(issued + lifetime_s),
            "jti": str(uuid.uuid4()), "scp": scopes if scopes is not None else ["tableau:*:*"]}
    body.update(claims)
    headers = {"kid": app["secret_id"], "iss": app["client_id"]}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, app["secret_value"], algorithm="HS256",
                      headers=headers)


def write_hyper(path: Path, columns: list[tuple[str, Any]], rows: list[tuple], schema: str = "Extract",
                table: str = "Extract", extra_tables: dict[tuple[str, str], tuple[list, list]] | None = None) -> Path:
    """Write a .hyper file: ``columns`` are (name, tableauhyperapi.SqlType) pairs."""
    from tableauhyperapi import (Connection, CreateMode, HyperProcess, Inserter, TableDefinition, TableName,
                                 Telemetry)

    path = Path(path)
    tables = {(schema, table): (columns, rows)}
    tables.update(extra_tables or {})
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_dir": str(path.parent)}) as hp:
        with Connection(hp.endpoint, str(path), CreateMode.CREATE_AND_REPLACE) as conn:
            for (sch, tbl), (cols, data) in tables.items():
                conn.catalog.create_schema_if_not_exists(sch)
                definition = TableDefinition(TableName(sch, tbl),
                                             [TableDefinition.Column(n, t) for n, t in cols])
                conn.catalog.create_table(definition)
                with Inserter(conn, definition) as inserter:
                    inserter.add_rows(data)
                    inserter.execute()
    return path
