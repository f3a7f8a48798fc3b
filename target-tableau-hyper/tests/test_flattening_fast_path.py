"""Flattened streams on the compiled fast path (flatten.py) = the SDK mapper path, row for row.

Every scenario runs the same Singer text through the shipped target (fast path) and through a
target whose fast path is switched off (every record: dict → the SDK's `flatten_record` →
model), then compares the whole tables (column names, types, every row). JSON text columns are
compared byte for byte (the fast path writes the SDK's `serialize_json` text).
"""

from __future__ import annotations

import copy
import decimal
import io
import json
from pathlib import Path

import pytest
import simplejson
from tableauhyperapi import Connection, HyperProcess, TableName, Telemetry
from tap_quickbooks_online.schema_objects import entity_schema

from target_tableau_hyper import flatten as flatten_mod
from target_tableau_hyper.batch import Batch
from target_tableau_hyper.errors import InputError
from target_tableau_hyper.target import TargetTableauHyper

REFERENCE = Path("/work/shared/reference/qbo")
FLAT = {"flattening_enabled": True, "flattening_max_depth": 3, "audit_enabled": False}


class SdkMapperTarget(TargetTableauHyper):
    """The same target with the fast path off: every record takes the SDK mapper path."""

    def _refresh_fast_path(self, stream: str) -> None:
        self.message_reader.on_tick = self._handle_max_record_age


@pytest.fixture(scope="module")
def hyper():
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
        yield hp


def _table(hp: HyperProcess, path: Path) -> tuple[list, list]:
    with Connection(hp.endpoint, str(path)) as conn:
        name = TableName("Extract", "Extract")
        cols = [(c.name.unescaped, str(c.type)) for c in conn.catalog.get_table_definition(name).columns]
        rows = conn.execute_list_query(f"SELECT * FROM {name}")
    return cols, sorted(rows, key=repr)


def _run(cls: type, text: str, out: Path, **config) -> TargetTableauHyper:
    target = cls(config={"output_dir": str(out), **FLAT, **config})
    target.listen_safely(io.BytesIO(text.encode()))
    return target


def _text(messages: list[dict], style: str = "compact") -> str:
    """Singer text: 'compact' (how the SDK writes: Arrow runs), 'spaced' (json.dumps default
    separators: runs too), 'reordered' ("stream" before "type": per-line decoding)."""
    lines = []
    for m in messages:
        if style == "reordered" and m["type"] == "RECORD":
            m = {"stream": m["stream"], "type": "RECORD", "record": m["record"]}
        seps = (",", ":") if style == "compact" else (", ", ": ")
        lines.append(simplejson.dumps(m, use_decimal=True, separators=seps, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def _compare(hyper, tmp_path, messages, streams, style="compact", **config) -> tuple[TargetTableauHyper, dict]:
    text = _text(messages, style)
    fast = _run(TargetTableauHyper, text, tmp_path / "fast", **config)
    slow = _run(SdkMapperTarget, text, tmp_path / "sdk", **config)
    assert not slow._fast_sinks
    tables = {}
    for stream in streams:
        a = _table(hyper, tmp_path / "fast" / f"{stream}.hyper")
        b = _table(hyper, tmp_path / "sdk" / f"{stream}.hyper")
        assert a[0] == b[0], stream
        assert len(a[1]) == len(b[1]) > 0, stream
        for row_a, row_b in zip(a[1], b[1]):
            assert row_a == row_b, (stream, [(c[0], x, y) for c, x, y in zip(a[0], row_a, row_b) if x != y])
        tables[stream] = dict(zip([c for c, _ in a[0]], zip(*a[1])))
    return fast, tables


def _count_sdk_rows(monkeypatch) -> list:
    calls: list = []
    original = flatten_mod.FlattenPlan.sdk_row

    def counting(self, record, line):
        calls.append(line)
        return original(self, record, line)

    monkeypatch.setattr(flatten_mod.FlattenPlan, "sdk_row", counting)
    return calls


def _count_per_record_batches(monkeypatch) -> list:
    calls: list = []
    original = Batch._decode_raw_flattened

    def counting(self, plan):
        calls.append(len(self))
        return original(self, plan)

    monkeypatch.setattr(Batch, "_decode_raw_flattened", counting)
    return calls


def _qbo_messages(stream: str, entity: str, copies: int = 4) -> list[dict]:
    schema = entity_schema(entity)
    samples = json.loads((REFERENCE / f"entity-{stream}.json").read_text(), parse_float=decimal.Decimal)
    messages = [{"type": "SCHEMA", "stream": stream, "key_properties": ["realm_id", "Id"], "schema": schema}]
    for i in range(copies):
        for j, sample in enumerate(samples):
            record = {k: copy.deepcopy(v) for k, v in sample.items() if k in schema["properties"]}
            record.update(realm_id="r1", Id=f"{sample['Id']}-{i}-{j}",
                          updated_at=sample["MetaData"]["LastUpdatedTime"])
            messages.append({"type": "RECORD", "stream": stream, "record": record})
    return messages


# --- (a) equivalence ------------------------------------------------------------------------
def test_qbo_records_equal_sdk_path_and_stay_on_the_arrow_path(hyper, tmp_path, monkeypatch):
    sdk_rows = _count_sdk_rows(monkeypatch)
    per_record = _count_per_record_batches(monkeypatch)
    messages = []
    for stream, entity in (("invoices", "Invoice"), ("bills", "Bill"), ("customers", "Customer"),
                           ("journal_entries", "JournalEntry"), ("payments", "Payment")):
        messages += _qbo_messages(stream, entity)
    fast, tables = _compare(hyper, tmp_path, messages, ["invoices", "bills", "customers", "journal_entries", "payments"])
    for stream in ("invoices", "bills", "customers", "journal_entries", "payments"):
        sink = fast._fast_sinks[stream]  # (c) the fast path was taken for every flattened stream
        assert stream.encode() in fast.message_reader.fast_streams
        assert sink.model.flattened is not None and sink.model.flattened.arrow_line_schema is not None
    assert sdk_rows == [] and per_record == []  # clean records: Arrow path, no fallback
    invoices = tables["invoices"]
    assert "CustomerRef__value" in invoices and "Line" in invoices and "CustomerRef" not in invoices
    assert {"TxnTaxDetail__TaxLine", "MetaData__LastModifiedByRef__value"} <= set(invoices)
    # money stays exact NUMERIC; Line holds the SDK's JSON text
    assert all(isinstance(v, decimal.Decimal) for v in invoices["TotalAmt"])
    assert all(json.loads(v)[0]["Id"] for v in invoices["Line"])


def _edge_schema() -> dict:
    s = {"type": ["string", "null"]}
    return {
        "type": "object",
        "properties": {
            "realm_id": {"type": "string"},
            "Id": {"type": "string"},
            "Ref": {"type": ["object", "null"], "properties": {"value": s, "name": s}},
            "Amount": {"type": ["number", "null"], "multipleOf": 0.01},
            "Rate": {"type": ["number", "null"]},
            "Count": {"type": ["integer", "null"]},
            "Flag": {"type": ["boolean", "null"]},
            "Day": {"type": ["string", "null"], "format": "date"},
            "Meta": {"type": ["object", "null"], "properties": {
                "At": {"type": ["string", "null"], "format": "date-time"},
                "By": {"type": ["object", "null"], "properties": {
                    "value": s,
                    "Deep": {"type": ["object", "null"], "properties": {
                        "x": s, "y": {"type": ["number", "null"]},
                        "Deeper": {"type": ["object", "null"], "properties": {"z": {"type": ["number", "null"]}}},
                    }},
                }},
            }},
            "Lines": {"type": ["array", "null"], "items": {"type": "object", "properties": {"n": s}}},
            "Free": {"type": ["object", "null"]},  # no properties: JSON text
            "Tags": {"type": "array", "items": {"type": "string"}},
        },
    }


def _edge_records() -> list[dict]:
    D = decimal.Decimal
    full = {
        "realm_id": "r1", "Id": "0", "Ref": {"value": "7", "name": "Café ☕"}, "Amount": D("9999999999999999.99"),
        "Rate": D("0.000001"), "Count": 2**62, "Flag": True, "Day": "2024-02-29",
        "Meta": {"At": "2024-01-02T03:04:05.123456Z", "By": {"value": "v", "Deep": {"x": "deep", "y": D("1.50"), "Deeper": {"z": D("2.50"), "not in schema": [1]}}}},
        "Lines": [{"n": "ü\u2028\x7f\"\\/\n"}, {"n": None, "extra": [D("1E+2"), D("0.0000001"), D("-0.0"), 12345678901234567890123]}],
        "Free": {"a": {"b": [1, 2, {"c": None}]}, "é": "ß"}, "Tags": [],
    }
    records = [full]
    records.append({"realm_id": "r1", "Id": "1", "Ref": None, "Meta": None, "Lines": None, "Free": None, "Tags": ["a"]})
    records.append({"realm_id": "r1", "Id": "2"})  # everything absent
    records.append({"realm_id": "r1", "Id": "3", "Ref": {}, "Meta": {"At": None, "By": None}, "Lines": [], "Free": {}})
    records.append({"realm_id": "r1", "Id": "4", "Meta": {"By": {"value": None, "Deep": None}}, "Amount": D("-0.01"),
                    "Rate": D("123456789012.123456"), "Count": -(2**63)})
    records.append({"realm_id": "r1", "Id": "5", "Lines": "not an array", "Free": "text", "Tags": ["x", "y"]})
    return records


def _edge_messages(records: list[dict], schema: dict | None = None) -> list[dict]:
    return [{"type": "SCHEMA", "stream": "edge", "key_properties": ["realm_id", "Id"], "schema": schema or _edge_schema()}] + [
        {"type": "RECORD", "stream": "edge", "record": r} for r in records
    ]


@pytest.mark.parametrize("style", ["compact", "reordered"])
def test_edge_cases_equal_sdk_path(hyper, tmp_path, monkeypatch, style):
    sdk_rows = _count_sdk_rows(monkeypatch)
    fast, tables = _compare(hyper, tmp_path, _edge_messages(_edge_records()), ["edge"], style=style)
    assert fast._fast_sinks["edge"].model.flattened is not None
    assert sdk_rows == []  # every one of these is exact on the compiled path
    edge = tables["edge"]
    assert "Meta__By__Deep__x" in edge  # levels 0-2 flattened (max depth 3) ...
    assert "Meta__By__Deep__Deeper" in edge and "Meta__By__Deep__Deeper__z" not in edge  # ... then JSON text
    assert "Ref__value" in edge and "Free" in edge


def test_odd_records_fall_back_per_record_and_still_equal(hyper, tmp_path, monkeypatch):
    """Shapes the SDK flattens leniently (and unknown keys, which the SDK flattens too) go
    through the SDK mapper, only those records."""
    sdk_rows = _count_sdk_rows(monkeypatch)
    D = decimal.Decimal
    odd = [
        {"realm_id": "r1", "Id": "10", "Ref": "a string where an object belongs"},
        {"realm_id": "r1", "Id": "11", "Ref": [{"value": "1"}]},
        {"realm_id": "r1", "Id": "12", "Ref__value": "top-level key named like a column", "Ref": None},
        {"realm_id": "r1", "Id": "13", "Ref": {"value": "1", "unknown": {"deep": 1}}},
        {"realm_id": "r1", "Id": "14", "Unknown": {"x": [1]}, "Meta": {"By": {"Deep": "text, not an object"}}},
        {"realm_id": "r1", "Id": "15", "Ref": {"value": {"an": "object"}}},  # SDK stores its JSON text
        {"realm_id": "r1", "Id": "16", "Flag": "true", "Amount": D("1.5")},  # SDK converts leniently
    ]
    records = _edge_records()[:2] + odd
    fast, _ = _compare(hyper, tmp_path, _edge_messages(records), ["edge"])
    assert fast._fast_sinks["edge"].model.flattened is not None
    assert len(sdk_rows) == len(odd)


def test_long_keys_are_shortened_like_the_sdk(hyper, tmp_path, monkeypatch):
    sdk_rows = _count_sdk_rows(monkeypatch)
    long_a = "VeryLongParentObjectName" * 2
    long_b = "AnotherQuiteLongChildName" * 2
    schema = {"type": "object", "properties": {
        "realm_id": {"type": "string"}, "Id": {"type": "string"},
        long_a: {"type": ["object", "null"], "properties": {
            long_b: {"type": ["object", "null"], "properties": {"leafValue": {"type": ["string", "null"]}}},
            "short": {"type": ["integer", "null"]},
        }},
    }}
    records = [
        {"realm_id": "r1", "Id": "0", long_a: {long_b: {"leafValue": "x"}, "short": 5}},
        {"realm_id": "r1", "Id": "1", long_a: None},
        {"realm_id": "r1", "Id": "2", long_a: {long_b: None}},
    ]
    fast, tables = _compare(hyper, tmp_path, _edge_messages(records, schema), ["edge"], flattening_max_key_length=60)
    assert fast._fast_sinks["edge"].model.flattened is not None and sdk_rows == []
    assert any(name != "realm_id" and name.startswith("v") and name.endswith("leafValue") for name in tables["edge"])


def test_schema_the_plan_cannot_express_uses_the_sdk_path(hyper, tmp_path):
    schema = _edge_schema()
    schema["properties"]["Any"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    fast, _ = _compare(hyper, tmp_path, _edge_messages(_edge_records()[:3], schema), ["edge"])
    assert "edge" not in fast._fast_sinks and b"edge" not in fast.message_reader.fast_streams


# --- (b) bad input --------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["compact", "reordered"])
def test_type_violation_in_flattened_object_names_line_and_column(tmp_path, style):
    records = _edge_records()[:2] + [{"realm_id": "r1", "Id": "9", "Ref": {"value": 5}}]
    text = _text(_edge_messages(records), style)
    with pytest.raises(InputError) as err:
        _run(TargetTableauHyper, text, tmp_path / "out")
    exc = err.value
    assert (exc.line, exc.stream, exc.field) == (4, "edge", "Ref__value")
    assert str(exc).startswith("line 4")


def test_bad_timestamp_deep_in_a_flattened_object(tmp_path):
    records = [{"realm_id": "r1", "Id": "1", "Meta": {"At": "not a time"}}]
    with pytest.raises(InputError) as err:
        _run(TargetTableauHyper, _text(_edge_messages(records)), tmp_path / "out")
    assert (err.value.line, err.value.field) == (2, "Meta__At")


def test_flattening_off_keeps_the_unflattened_fast_path(tmp_path):
    target = _run(TargetTableauHyper, _text(_edge_messages(_edge_records()[:3])), tmp_path / "out",
                  flattening_enabled=False)
    sink = target._fast_sinks["edge"]
    assert sink.model.flattened is None


def _required_schema() -> dict:
    schema = _edge_schema()
    schema["properties"]["Code"] = {"type": "string"}
    schema["required"] = ["realm_id", "Code", "Ref"]  # a key, a plain leaf, an object (flattened away)
    return schema


def test_required_property_stays_on_the_arrow_path(hyper, tmp_path, monkeypatch):
    per_record = _count_per_record_batches(monkeypatch)
    records = [{**r, "Code": f"c{i}"} for i, r in enumerate(_edge_records()[:5])]
    fast, _ = _compare(hyper, tmp_path, _edge_messages(records, _required_schema()), ["edge"])
    assert fast._fast_sinks["edge"].model.flattened.arrow_line_schema is not None
    assert per_record == []


@pytest.mark.parametrize("missing", [{}, {"Code": None}])
def test_required_property_absent_or_null_is_an_error(tmp_path, missing):
    records = [{**_edge_records()[0], "Code": "c"}, {"realm_id": "r1", "Id": "7", **missing}]
    with pytest.raises(InputError) as err:
        _run(TargetTableauHyper, _text(_edge_messages(records, _required_schema())), tmp_path / "out")
    assert (err.value.line, err.value.stream, err.value.field) == (3, "edge", "Code")


def test_unknown_keys_that_cannot_reach_a_column_stay_on_the_arrow_path(hyper, tmp_path, monkeypatch):
    per_record = _count_per_record_batches(monkeypatch)
    records = [{**r, "NotInSchema": {"a": [1, 2]}, "Meta": {"By": {"Other": "x", "value": "v"}}}
               for r in _edge_records()[:5]]
    fast, _ = _compare(hyper, tmp_path, _edge_messages(records), ["edge"])
    assert fast._fast_sinks["edge"].model.flattened.arrow_line_schema is not None
    assert per_record == []


@pytest.mark.parametrize("odd", [
    {"Ref__name": "a top-level key named like a column"},
    {"Meta": {"By__value": "a nested key named like a column"}},
    {"Meta": {"By": {"Deep__x": "lands in Meta__By__Deep__x"}}},
    {"K" * 300: "a key long enough for flatten_key to shorten"},
])
def test_keys_that_could_reach_a_column_take_the_sdk_path(hyper, tmp_path, monkeypatch, odd):
    per_record = _count_per_record_batches(monkeypatch)
    sdk_rows = _count_sdk_rows(monkeypatch)
    records = _edge_records()[:3] + [{"realm_id": "r1", "Id": "9", **odd}]
    _compare(hyper, tmp_path, _edge_messages(records), ["edge"])
    assert per_record and sdk_rows == [5]


def test_stream_off_the_arrow_path_decodes_raw_runs_per_record(hyper, tmp_path, monkeypatch):
    sdk_rows = _count_sdk_rows(monkeypatch)
    schema = _edge_schema()
    schema["properties"]["Mixed"] = {"type": ["string", "number", "null"]}  # loose text column
    records = [{**r, "Mixed": v} for r, v in zip(_edge_records(), ["a", decimal.Decimal("1.50"), None, True, "b", 7])]
    fast, _ = _compare(hyper, tmp_path, _edge_messages(records, schema), ["edge"])
    plan = fast._fast_sinks["edge"].model.flattened
    assert plan is not None and plan.arrow_line_schema is None and sdk_rows == []


def test_repeated_keys_keep_the_last_value_like_the_sdk(hyper, tmp_path):
    head = _text(_edge_messages(_edge_records()[:2]))
    dup = ('{"type":"RECORD","stream":"edge","record":{"realm_id":"r1","Id":"8","Ref":{"value":"a","value":"b"},'
           '"Lines":[1],"Lines":[{"n":"x","n":"y"}],"Meta":{"By":{"value":"1"}},"Meta":{"At":null}}}\n')
    text = head + dup
    fast = _run(TargetTableauHyper, text, tmp_path / "fast")
    _run(SdkMapperTarget, text, tmp_path / "sdk")
    assert fast._fast_sinks["edge"].model.flattened is not None
    a, b = _table(hyper, tmp_path / "fast" / "edge.hyper"), _table(hyper, tmp_path / "sdk" / "edge.hyper")
    assert a == b
    row = dict(zip([c for c, _ in a[0]], next(r for r in a[1] if r[1] == "8")))
    assert (row["Ref__value"], row["Lines"], row["Meta__By__value"]) == ("b", '[{"n":"y"}]', None)
