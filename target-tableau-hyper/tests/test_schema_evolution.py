"""Schema changes: new property → new column; widened type converts the column; removed
property keeps its column; unsafe change stops with a clear error and keeps the data."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest


def _schema(props: dict, keys=("id",)) -> dict:
    return {"type": "SCHEMA", "stream": "s", "key_properties": list(keys), "schema": {"properties": props}}


def _rec(**values) -> dict:
    return {"type": "RECORD", "stream": "s", "record": values}


BASE = {"id": {"type": "integer"}, "qty": {"type": ["integer", "null"]}, "note": {"type": ["string", "null"]}}


def test_new_property_adds_column_same_run(run_target, hyper_reader):
    added = {**BASE, "amount": {"type": ["number", "null"], "multipleOf": 0.01}}
    run_target([_schema(BASE), _rec(id=1, qty=5, note="a"), _schema(added), _rec(id=2, qty=6, amount=1.25)])
    data = hyper_reader(run_target.out_dir / "s.hyper", order_by='"id"')
    assert data["columns"] == {"id": "BIG_INT", "qty": "BIG_INT", "note": "TEXT", "amount": "NUMERIC(18, 2)"}
    assert [(r["id"], r["qty"], r["amount"]) for r in data["rows"]] == [(1, 5, None), (2, 6, Decimal("1.25"))]


def test_widening_integer_to_number_to_string_keeps_values(run_target, hyper_reader):
    run_target([_schema(BASE), _rec(id=1, qty=5), _rec(id=2, qty=-7)])
    as_number = {**BASE, "qty": {"type": ["number", "null"], "multipleOf": 0.001}}
    run_target([_schema(as_number), _rec(id=3, qty=Decimal("2.5"))])
    data = hyper_reader(run_target.out_dir / "s.hyper", order_by='"id"')
    assert data["columns"]["qty"] == "NUMERIC(18, 3)"
    assert [r["qty"] for r in data["rows"]] == [Decimal(5), Decimal(-7), Decimal("2.5")]
    as_string = {**BASE, "qty": {"type": ["string", "null"]}}
    run_target([_schema(as_string), _rec(id=4, qty="a dozen")])
    data = hyper_reader(run_target.out_dir / "s.hyper", order_by='"id"')
    assert data["columns"]["qty"] == "TEXT"
    assert [r["qty"] for r in data["rows"]] == ["5.000", "-7.000", "2.500", "a dozen"]
    # column order is kept by the rebuild
    assert list(data["columns"]) == ["id", "qty", "note"]


def test_narrower_type_later_keeps_wider_column(run_target, hyper_reader):
    as_string = {**BASE, "qty": {"type": ["string", "null"]}}
    run_target([_schema(as_string), _rec(id=1, qty="x")])
    run_target([_schema(BASE), _rec(id=2, qty=3)])
    data = hyper_reader(run_target.out_dir / "s.hyper", order_by='"id"')
    assert data["columns"]["qty"] == "TEXT"
    assert [r["qty"] for r in data["rows"]] == ["x", "3"]


def test_removed_property_keeps_column_with_nulls(run_target, hyper_reader):
    run_target([_schema(BASE), _rec(id=1, qty=5, note="kept")])
    without_note = {k: v for k, v in BASE.items() if k != "note"}
    run_target([_schema(without_note), _rec(id=2, qty=6), _rec(id=1, qty=9)])
    data = hyper_reader(run_target.out_dir / "s.hyper", order_by='"id"')
    assert "note" in data["columns"]
    # an upsert replaces the whole row: the property is gone from the source, so null
    assert [(r["id"], r["qty"], r["note"]) for r in data["rows"]] == [(1, 9, None), (2, 6, None)]


def test_unsafe_change_is_a_clear_error_and_keeps_data(run_target, hyper_reader):
    from target_tableau_hyper.types import SchemaError

    dated = {**BASE, "when": {"type": ["string", "null"], "format": "date"}}
    run_target([_schema(dated), _rec(id=1, when="2024-01-31")])
    as_bool = {**BASE, "when": {"type": ["boolean", "null"]}}
    with pytest.raises(SchemaError) as err:
        run_target([_schema(as_bool), _rec(id=2, when=True)])
    msg = str(err.value)
    assert "stream 's'" in msg and "field 'when'" in msg and "DATE" in msg and "BOOL" in msg
    data = hyper_reader(run_target.out_dir / "s.hyper")
    assert data["columns"]["when"] == "DATE" and len(data["rows"]) == 1


def test_widening_that_overflows_is_rolled_back(run_target, hyper_reader):
    from tableauhyperapi import HyperException

    run_target([_schema(BASE), _rec(id=1, qty=10**17)])
    # NUMERIC(18,6) holds 12 integer digits: converting 10**17 must fail, not truncate
    as_number = {**BASE, "qty": {"type": ["number", "null"]}}
    with pytest.raises(HyperException):
        run_target([_schema(as_number), _rec(id=2, qty=1)])
    data = hyper_reader(run_target.out_dir / "s.hyper")
    assert data["columns"]["qty"] == "BIG_INT" and data["rows"][0]["qty"] == 10**17
    assert json  # keep import


def test_widening_in_same_run_while_old_batch_is_buffered(run_target, hyper_reader):
    as_string = {**BASE, "qty": {"type": ["string", "null"]}}
    # the first record is still buffered in the old sink when the new schema widens the column
    run_target([_schema(BASE), _rec(id=1, qty=5), _schema(as_string), _rec(id=2, qty="x")])
    data = hyper_reader(run_target.out_dir / "s.hyper", order_by='"id"')
    assert data["columns"]["qty"] == "TEXT"
    assert [r["qty"] for r in data["rows"]] == ["5", "x"]


def test_record_metadata_columns(run_target, hyper_reader):
    run = run_target([_schema(BASE), _rec(id=1, qty=5)], add_record_metadata=True)
    data = hyper_reader(run_target.out_dir / "s.hyper")
    row = data["rows"][0]
    assert data["columns"]["_sdc_batched_at"] == "TIMESTAMP_TZ"
    assert row["_sdc_batched_at"] is not None and row["_sdc_sync_started_at"] == run.target.initialized_at
