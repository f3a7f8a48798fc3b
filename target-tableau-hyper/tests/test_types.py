"""Read-back of every type: exact decimals, dates, timestamps with offsets, unicode, nulls, JSON."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest


def _ts(value):
    return None if value is None else value.to_datetime()


def test_every_type_reads_back_exactly(run_target, hyper_reader, singer_resource):
    run = run_target(singer_resource("types_all.singer"))
    data = hyper_reader(run_target.out_dir / "types.hyper", order_by='"id"')
    assert data["columns"] == {
        "id": "BIG_INT", "name": "TEXT", "day": "DATE", "at": "TIMESTAMP_TZ", "flag": "BOOL",
        "big": "BIG_INT", "money": "NUMERIC(18, 2)", "rate": "NUMERIC(18, 6)",
        "sqltyped": "NUMERIC(12, 4)", "obj": "TEXT", "arr": "TEXT", "mixed": "TEXT", "untyped": "TEXT",
    }
    r1, r2, r3, r4 = data["rows"]
    assert r1["name"] == 'Café ☕ 東京 \u00e9\u0301 "q" \\ back'
    assert r1["day"].to_date() == dt.date(2024, 2, 29)
    assert _ts(r1["at"]) == dt.datetime(2024, 3, 10, 9, 30, 0, 123456, tzinfo=dt.timezone.utc)
    assert r1["flag"] is True and r3["flag"] is False
    assert r1["big"] == 2**63 - 1 and r3["big"] == -(2**63)
    # 9999999999999999.99 has no exact float: only an exact path keeps every cent
    assert str(r1["money"]) == "9999999999999999.99"
    assert r1["rate"] == Decimal("0.000001")
    assert r1["sqltyped"] == Decimal("12345678.1234")
    # nested values as JSON text, numbers with their exact decimal text
    assert json.loads(r1["obj"]) == {"value": "42", "amount": 300.10}
    assert '"amount":300.10' in r1["obj"]
    # exact values (Decimal's own text: 1E-18 is the same number as 0.000000000000000001)
    assert json.loads(r1["arr"], parse_float=Decimal) == [Decimal("1.10"), 2, Decimal("1E-18")]
    assert r1["arr"].startswith("[1.10,2,")
    assert r1["mixed"] == "7" and r3["mixed"] == "seven"
    assert r1["untyped"] == '{"a":1}' and r3["untyped"] == "text"
    # nulls stay null, and absent properties are null
    assert all(v is None for k, v in r2.items() if k != "id")
    assert r4["name"] is None and r4["day"] is None
    assert r3["name"] == "" and r3["obj"] == "{}" and r3["arr"] == "[]"
    assert r3["money"] == Decimal("-0.01")
    assert r3["rate"] == Decimal("123456789012.123456")
    assert r3["day"].to_date() == dt.date(1900, 1, 1)
    assert _ts(r4["at"]) == dt.datetime(2024, 6, 30, 18, 29, 59, tzinfo=dt.timezone.utc)
    assert r4["money"] == Decimal("0.10") and r4["rate"] == Decimal(2)
    assert run.states == [{"bookmarks": {"types": {"done": True}}}]


def test_sum_of_money_is_exact(run_target, hyper_reader):
    schema = {"type": "SCHEMA", "stream": "m", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"}, "amt": {"type": ["number", "null"], "multipleOf": 0.01}}}}
    lines = [json.dumps(schema)] + [
        '{"type":"RECORD","stream":"m","record":{"id":%d,"amt":0.10}}' % i for i in range(1000)
    ] + ['{"type":"RECORD","stream":"m","record":{"id":1000,"amt":0.20}}']
    run_target("\n".join(lines) + "\n")
    rows = hyper_reader(run_target.out_dir / "m.hyper")["rows"]
    assert sum(r["amt"] for r in rows) == Decimal("100.20")  # 0.1 * 1000 + 0.2 in floats ≠ 100.2


def test_numeric_settings_and_overrides(run_target, hyper_reader):
    schema = {"type": "SCHEMA", "stream": "rates", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"}, "rate": {"type": ["number", "null"]},
        "fx": {"type": ["number", "null"]}, "qty": {"type": ["number", "null"], "multipleOf": 0.5}}}}
    rec = {"type": "RECORD", "stream": "rates", "record": {"id": 1, "rate": 1.12345678, "fx": 1.5, "qty": 2.5}}
    run_target([schema, rec], default_numeric_scale=8, numeric_overrides={"rates": {"fx": "NUMERIC(10,3)"}})
    data = hyper_reader(run_target.out_dir / "rates.hyper")
    assert data["columns"]["rate"] == "NUMERIC(18, 8)"
    assert data["columns"]["fx"] == "NUMERIC(10, 3)"
    assert data["columns"]["qty"] == "NUMERIC(18, 1)"
    assert data["rows"][0]["rate"] == Decimal("1.12345678")


@pytest.mark.parametrize(
    ("value", "field"),
    [("1.005", "money"), ("12345678901234567.00", "money"), ("0.0000001", "rate")],
)
def test_number_not_fitting_its_column_is_an_error_not_rounded(run_target, value, field):
    from target_tableau_hyper.errors import InputError

    schema = {"type": "SCHEMA", "stream": "m", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"}, "money": {"type": ["number", "null"], "multipleOf": 0.01},
        "rate": {"type": ["number", "null"]}}}}
    text = json.dumps(schema) + "\n" + '{"type":"RECORD","stream":"m","record":{"id":1,"%s":%s}}\n' % (field, value)
    with pytest.raises(InputError) as err:
        run_target(text)
    assert err.value.line == 2 and err.value.field == field and err.value.stream == "m"
    assert "does not fit column type" in str(err.value)


def test_precision_over_18_uses_database_version_3(run_target, hyper_reader):
    schema = {"type": "SCHEMA", "stream": "big", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"}, "amt": {"type": ["number", "null"]}}}}
    text = json.dumps(schema) + '\n{"type":"RECORD","stream":"big","record":{"id":1,"amt":12345678901234567890123456.123456789012}}\n'
    run_target(text, default_numeric_precision=38, default_numeric_scale=12)
    data = hyper_reader(run_target.out_dir / "big.hyper")
    assert data["columns"]["amt"] == "NUMERIC(38, 12)"
    assert str(data["rows"][0]["amt"]) == "12345678901234567890123456.123456789012"


def test_precision_over_18_in_version_2_file_is_a_clear_error(run_target):
    from target_tableau_hyper.types import SchemaError

    schema = {"type": "SCHEMA", "stream": "big", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"}, "amt": {"type": ["number", "null"], "x-sql-datatype": "NUMERIC(30,2)"}}}}
    with pytest.raises(SchemaError, match="hyper_database_version"):
        run_target([schema])


def test_flattening_of_nested_qbo_objects(run_target, hyper_reader):
    schema = {"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"], "schema": {"properties": {
        "realm_id": {"type": "string"}, "Id": {"type": "string"},
        "CustomerRef": {"type": ["object", "null"], "properties": {"value": {"type": "string"}, "name": {"type": "string"}}},
        "MetaData": {"type": ["object", "null"], "properties": {"LastUpdatedTime": {"type": "string", "format": "date-time"}}},
        "TotalAmt": {"type": ["number", "null"], "multipleOf": 0.01},
        "Line": {"type": ["array", "null"], "items": {"type": "object"}}}}}
    rec = {"type": "RECORD", "stream": "invoices", "record": {
        "realm_id": "r1", "Id": "130", "CustomerRef": {"value": "1", "name": "Amy's Bird Sanctuary"},
        "MetaData": {"LastUpdatedTime": "2024-05-01T10:00:00-07:00"}, "TotalAmt": 300.00,
        "Line": [{"Amount": 300.00}]}}
    raw = json.dumps(rec).replace("300.0", "300.00")
    run = run_target(json.dumps(schema) + "\n" + raw + "\n", flattening_enabled=True, flattening_max_depth=1)
    data = hyper_reader(run_target.out_dir / "invoices.hyper")
    assert data["columns"]["CustomerRef__value"] == "TEXT"
    assert data["columns"]["MetaData__LastUpdatedTime"] == "TIMESTAMP_TZ"
    row = data["rows"][0]
    assert row["CustomerRef__value"] == "1" and row["CustomerRef__name"] == "Amy's Bird Sanctuary"
    assert row["TotalAmt"] == Decimal("300.00")
    assert json.loads(row["Line"]) == [{"Amount": 300.0}] and "300.00" in row["Line"]
    assert run.counts["invoices"]["inserted"] == 1
