"""Staged batch files: Arrow IPC with declared columns, Parquet when a type is not declared;
Hyper reads back the exact values either way, and a failed write leaves no file."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import pyarrow as pa
import pytest
from tableauhyperapi import Connection, HyperProcess, Telemetry

from target_tableau_hyper.hyper_store import stage_file

D = decimal.Decimal
UTC = datetime.timezone.utc

ROWS = {
    "text": ["a", None, 'q"uo\\te', "ünï €", ""],
    "big": [1, None, -4, 2**62, 0],
    "money": [D("1.10"), None, D("-99999999.99"), D("0.01"), D("12345678901234.56")],
    "day": [datetime.date(2024, 1, 1), None, datetime.date(1, 1, 1), datetime.date(9999, 12, 31),
            datetime.date(2000, 2, 29)],
    "at": [datetime.datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC), None, None,
           datetime.datetime(1970, 1, 1, tzinfo=UTC), datetime.datetime(2024, 6, 1, 23, 59, 59, tzinfo=UTC)],
    "flag": [True, None, False, True, False],
}
TYPES = {
    "text": pa.string(), "big": pa.int64(), "money": pa.decimal128(18, 2), "day": pa.date32(),
    "at": pa.timestamp("us", tz="UTC"), "flag": pa.bool_(),
}


def _table(extra: dict[str, pa.Array] | None = None) -> pa.Table:
    arrays = {name: pa.array(values, type=TYPES[name]) for name, values in ROWS.items()}
    arrays.update(extra or {})
    return pa.table(arrays)


def _read(source_sql: str, names: list[str]) -> list[tuple]:
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
        with Connection(hp.endpoint) as conn:
            cols = ", ".join(f's."{n}"' for n in names)
            return [tuple(r) for r in conn.execute_list_query(f"SELECT {cols} FROM {source_sql} s")]


def _python(value):
    """Hyper API values → Python's (Date/Timestamp have to_date/to_datetime)."""
    if hasattr(value, "to_datetime"):
        return value.to_datetime()
    if hasattr(value, "to_date"):
        return value.to_date()
    return value


def test_declared_types_are_staged_as_arrow_and_read_back_exactly(tmp_path: Path) -> None:
    staged = stage_file(_table(), tmp_path)
    assert staged.path.endswith(".arrow") and "FORMAT => 'arrowfile'" in staged.source_sql
    rows = _read(staged.source_sql, list(ROWS))
    expected = list(zip(*ROWS.values()))
    assert [tuple(_python(v) for v in row) for row in rows] == expected


def test_an_undeclared_type_falls_back_to_parquet(tmp_path: Path) -> None:
    staged = stage_file(_table({"ratio": pa.array([0.5, None, 1.25, -2.0, 0.0])}), tmp_path)
    assert staged.path.endswith(".parquet") and "FORMAT => 'parquet'" in staged.source_sql
    rows = _read(staged.source_sql, [*ROWS, "ratio"])
    assert [tuple(_python(v) for v in row) for row in rows] == [
        (*row, ratio) for row, ratio in zip(zip(*ROWS.values()), [0.5, None, 1.25, -2.0, 0.0])
    ]


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pa.ipc, "new_file", broken)  # after the file was opened
    with pytest.raises(OSError, match="disk full"):
        stage_file(_table(), tmp_path)
    assert list(tmp_path.iterdir()) == []
