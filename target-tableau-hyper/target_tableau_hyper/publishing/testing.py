"""Helpers for the publishing tests and the benchmark: small local extracts and a change source."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Sequence

from tableauhyperapi import (
    NOT_NULLABLE,
    NULLABLE,
    Connection,
    CreateMode,
    HyperProcess,
    Inserter,
    SqlType,
    TableDefinition,
    TableName,
)

from target_tableau_hyper.publishing.changes import StreamKeys

INVOICE_COLUMNS = [
    TableDefinition.Column("realm_id", SqlType.text(), NOT_NULLABLE),
    TableDefinition.Column("Id", SqlType.text(), NOT_NULLABLE),
    TableDefinition.Column("DocNumber", SqlType.text(), NULLABLE),
    TableDefinition.Column("TotalAmt", SqlType.numeric(18, 2), NULLABLE),
]
LINE_COLUMNS = [
    TableDefinition.Column("realm_id", SqlType.text(), NOT_NULLABLE),
    TableDefinition.Column("txn_id", SqlType.text(), NOT_NULLABLE),
    TableDefinition.Column("line_index", SqlType.big_int(), NOT_NULLABLE),
    TableDefinition.Column("Amount", SqlType.numeric(18, 2), NULLABLE),
]


def invoice_row(i: int, realm: str = "r1", version: int = 0) -> list[Any]:
    return [realm, str(i), f"INV-{i}-v{version}", Decimal(i * 100 + version).scaleb(-2)]


def write_extract(hyper: HyperProcess, path: str, rows: Iterable[Sequence[Any]],
                  columns: Sequence[TableDefinition.Column] = INVOICE_COLUMNS) -> str:
    """Create (replace) a local extract `"Extract"."Extract"` holding exactly `rows`."""
    with Connection(hyper.endpoint, path, CreateMode.CREATE_AND_REPLACE) as conn:
        conn.catalog.create_schema("Extract")
        table = TableDefinition(TableName("Extract", "Extract"), list(columns))
        conn.catalog.create_table(table)
        with Inserter(conn, table) as inserter:
            inserter.add_rows(rows)
            inserter.execute()
    return path


def write_invoices(hyper: HyperProcess, path: str, rows: dict[int, int], realm: str = "r1") -> str:
    """Invoices `{id: version}`."""
    return write_extract(hyper, path, (invoice_row(i, realm, v) for i, v in sorted(rows.items())))


@dataclass
class RecordedChanges:
    """A ChangeSource fed by the test: per stream keys, per (stream, run) touched scope keys."""

    keys: dict[str, StreamKeys] = field(default_factory=dict)
    touched: dict[tuple[str, str], list[tuple[Any, ...]]] = field(default_factory=dict)

    def stream_keys(self, stream: str) -> StreamKeys | None:
        return self.keys.get(stream)

    def touched_scopes(self, stream: str, run_ids: Sequence[str]) -> list[tuple[Any, ...]] | None:
        out: list[tuple[Any, ...]] = []
        for run_id in run_ids:
            if (stream, run_id) not in self.touched:
                return None
            out.extend(self.touched[(stream, run_id)])
        return out


def sandbox_config(sandbox: Any, **overrides: Any) -> dict[str, Any]:
    """Target config (publishing part) pointing at a `TableauSandboxServer`, signing in with its PAT."""
    creds = sandbox.credentials()
    config = {
        "publish": True,
        "tableau_server_url": sandbox.base_url,
        "tableau_site": creds["site_content_url"],
        "tableau_project": creds["project"],
        "tableau_token_name": creds["pat"]["token_name"],
        "tableau_token_secret": creds["pat"]["token_secret"],
        "datasource_name": "QBO {stream}",
        "publish_mode": "incremental",
        "refresh": "none",
        "job_timeout_seconds": 60,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def jwt_overrides(sandbox: Any) -> dict[str, Any]:
    app = sandbox.credentials()["connected_app"]
    return {"tableau_token_name": None, "tableau_token_secret": None, "tableau_jwt_client_id": app["client_id"],
            "tableau_jwt_secret_id": app["secret_id"], "tableau_jwt_secret": app["secret_value"],
            "tableau_username": app["username"]}


class ThreadedUvicorn:
    """Serve an ASGI app on 127.0.0.1 and a free port in a background thread (tests)."""

    def __init__(self, app: Any):
        self.app = app
        self.base_url = ""
        self._server: Any = None
        self._thread: Any = None

    def __enter__(self) -> "ThreadedUvicorn":
        import socket
        import threading
        import time

        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self._server.install_signal_handlers = lambda: None
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def canonical_cell(value: Any) -> str | None:
    """One text form for a cell read locally (Hyper API: Decimal('1'), '2026-01-01 00:00:00+00:00') or
    from the sandbox's JSON ('1.00', '2026-01-01T00:00:00+00:00'), so the two can be compared."""
    import re

    if value is None:
        return None
    text = str(value)
    try:
        return str(Decimal(text).normalize())
    except ArithmeticError:
        pass
    if re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:", text):
        text = text.replace(" ", "T", 1)
    return text


def canonical_rows(rows: Iterable[Sequence[Any]]) -> list[list[str | None]]:
    return sorted(([canonical_cell(v) for v in row] for row in rows), key=lambda r: [str(v) for v in r])
