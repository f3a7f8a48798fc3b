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
