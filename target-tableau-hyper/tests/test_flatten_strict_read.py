"""Flattened streams without JSON-text columns (the tap's line streams): Arrow first reads a
batch refusing undeclared keys; when that succeeds the scans for long and column-like keys are
skipped. Any undeclared key makes the batch take the usual checks (and the stream stops trying
the strict read). Either way the table equals the SDK mapper path's, row for row."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.compute as pc
import pytest
from tableauhyperapi import Connection, HyperProcess, TableName, Telemetry

from target_tableau_hyper.batch import Batch
from target_tableau_hyper.target import TargetTableauHyper

FLAT = {"flattening_enabled": True, "flattening_max_depth": 3, "audit_enabled": False}
SCHEMA = {
    "type": "object",
    "properties": {
        "realm_id": {"type": "string"},
        "Id": {"type": "string"},
        "Amount": {"type": ["number", "null"], "multipleOf": 0.01},
        "At": {"type": ["string", "null"], "format": "date-time"},
        "Ref": {"type": ["object", "null"], "properties": {
            "value": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}}},
        "Meta": {"type": ["object", "null"], "properties": {
            "By": {"type": ["object", "null"], "properties": {"value": {"type": ["string", "null"]}}}}},
    },
}


class SdkMapperTarget(TargetTableauHyper):
    """The fast path off: every record through the SDK's flattening and the model."""

    def _refresh_fast_path(self, stream: str) -> None:
        self.message_reader.on_tick = self._handle_max_record_age


@pytest.fixture(scope="module")
def hyper():
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
        yield hp


def _records(extra: dict | None = None) -> list[dict]:
    records = [
        {"realm_id": "r1", "Id": str(i), "Amount": f"{i}.25", "At": "2024-03-01T10:00:00Z",
         "Ref": {"value": str(i), "name": f"n{i}"} if i % 3 else None, "Meta": {"By": {"value": "u"}}}
        for i in range(12)
    ]
    if extra:
        records[7].update(extra)
    return records


def _text(records: list[dict]) -> str:
    lines = [json.dumps({"type": "SCHEMA", "stream": "s", "key_properties": ["realm_id", "Id"], "schema": SCHEMA})]
    for r in records:
        body = json.dumps(r, separators=(",", ":")).replace('"Amount":"', '"Amount":')
        body = body.replace('.25",', ".25,")  # money as a JSON number with its exact text
        lines.append('{"type":"RECORD","stream":"s","record":%s,"time_extracted":"2024-03-01T10:00:00+00:00"}' % body)
    return "".join(line + "\n" for line in lines)


def _rows(hp: HyperProcess, path: Path) -> tuple[list, list]:
    with Connection(hp.endpoint, str(path)) as conn:
        name = TableName("Extract", "Extract")
        cols = [(c.name.unescaped, str(c.type)) for c in conn.catalog.get_table_definition(name).columns]
        return cols, sorted(conn.execute_list_query(f"SELECT * FROM {name}"), key=repr)


def _compare(hyper, tmp_path: Path, text: str) -> TargetTableauHyper:
    fast = TargetTableauHyper(config={"output_dir": str(tmp_path / "fast"), **FLAT})
    fast.listen_safely(io.BytesIO(text.encode()))
    slow = SdkMapperTarget(config={"output_dir": str(tmp_path / "sdk"), **FLAT})
    slow.listen_safely(io.BytesIO(text.encode()))
    a, b = _rows(hyper, tmp_path / "fast" / "s.hyper"), _rows(hyper, tmp_path / "sdk" / "s.hyper")
    assert a == b and len(a[1]) == 12
    return fast


def _spies(monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    scans, per_record = [], []
    scan = pc.match_substring_regex
    monkeypatch.setattr(pc, "match_substring_regex", lambda *a, **k: scans.append(1) or scan(*a, **k))
    decode = Batch._decode_raw_flattened
    monkeypatch.setattr(Batch, "_decode_raw_flattened", lambda self, plan: per_record.append(1) or decode(self, plan))
    return scans, per_record


def test_declared_keys_only_skip_the_key_scans(hyper, tmp_path, monkeypatch) -> None:
    scans, per_record = _spies(monkeypatch)
    fast = _compare(hyper, tmp_path, _text(_records()))
    plan = fast._fast_sinks["s"].model.flattened
    assert plan.arrow_line_schema is not None and plan._strict_options is not None
    assert scans == [] and per_record == []


def test_an_unknown_harmless_key_takes_the_usual_checks_and_stays_on_arrow(hyper, tmp_path, monkeypatch) -> None:
    scans, per_record = _spies(monkeypatch)
    fast = _compare(hyper, tmp_path, _text(_records({"NotInSchema": {"a": [1, 2]}})))
    assert fast._fast_sinks["s"].model.flattened._strict_options is None  # not tried again
    assert scans and per_record == []


@pytest.mark.parametrize("odd", [
    {"Ref__name": "a top-level key named like a column"},
    {"Meta": {"By__value": "a nested key named like a column"}},
    {"K" * 300: "a key long enough for flatten_key to shorten"},
])
def test_keys_that_could_reach_a_column_still_take_the_sdk_path(hyper, tmp_path, monkeypatch, odd) -> None:
    _scans, per_record = _spies(monkeypatch)
    _compare(hyper, tmp_path, _text(_records(odd)))
    assert per_record  # the batch was decoded record by record (the SDK mapper for the odd one)


def test_a_repeated_key_equals_the_sdk_path(hyper, tmp_path) -> None:
    text = _text(_records()).replace('"Id":"3",', '"Id":"3","Amount":1.00,', 1)
    _compare(hyper, tmp_path, text)
