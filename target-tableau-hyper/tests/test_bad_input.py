"""Bad input → clear error (stream, line, field), non-zero exit, nothing committed lost."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from target_tableau_hyper.errors import InputError

TARGET = [sys.executable, "-c", "from target_tableau_hyper.cli import main; main()"]
GOOD = (
    '{"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"], "schema": {"type": "object", '
    '"properties": {"realm_id": {"type": "string"}, "Id": {"type": "string"}, "TotalAmt": {"type": ["number", "null"], '
    '"multipleOf": 0.01}}}}\n'
    '{"type": "RECORD", "stream": "invoices", "record": {"realm_id": "r1", "Id": "0", "TotalAmt": 9.99}}\n'
    '{"type": "STATE", "value": {"bookmarks": {"invoices": "first"}}}\n'
)

CASES = [
    # file, line, stream, field, words in the message
    ("bad_malformed_json.singer", 3, "invoices", None, "malformed JSON"),
    ("bad_record_before_schema.singer", 3, "customers", None, "before its SCHEMA"),
    ("bad_schema_violation.singer", 3, "invoices", "TotalAmt", "Invalid decimal string"),
    ("bad_missing_key.singer", 3, "invoices", "Id", "missing or null"),
    ("bad_unknown_type.singer", 3, "invoices", None, "unknown message type 'RECORDZ'"),
]


@pytest.mark.parametrize(("name", "line", "stream", "field", "words"), CASES)
def test_error_names_line_stream_field(run_target, singer_resource, name, line, stream, field, words):
    with pytest.raises(InputError) as err:
        run_target(singer_resource(name))
    exc = err.value
    assert (exc.line, exc.stream, exc.field) == (line, stream, field)
    assert words in str(exc)
    assert str(exc).startswith(f"line {line}")


# through the real CLI (subprocess): three cases keep the suite short; all five are covered above
@pytest.mark.parametrize(("name", "line", "stream", "field", "words"), [CASES[0], CASES[2], CASES[3]])
def test_cli_exits_nonzero_and_keeps_committed_data(tmp_path, hyper_reader, singer_resource, name, line, stream, field, words):
    config = tmp_path / "config.json"
    out = tmp_path / "out"
    config.write_text(json.dumps({"output_dir": str(out)}))
    first = subprocess.run(TARGET + ["--config", str(config)], input=GOOD, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == '{"bookmarks": {"invoices": "first"}}'
    bad = subprocess.run(
        TARGET + ["--config", str(config)], input=singer_resource(name), capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0
    assert f"line {line}" in bad.stderr and words in bad.stderr
    if field:
        assert f"field '{field}'" in bad.stderr
    assert bad.stdout == ""  # no state for a failed run
    rows = hyper_reader(out / "invoices.hyper")["rows"]
    assert [(r["Id"], str(r["TotalAmt"])) for r in rows] == [("0", "9.99")]
    # the failed run is in the audit trail
    audit = subprocess.run(TARGET + ["audit", "--config", str(config), "--json", "runs"], capture_output=True, text=True)
    runs = json.loads(audit.stdout)
    assert [r["status"] for r in runs] == ["failed", "succeeded"]


def test_schema_violation_other_keywords(run_target):
    schema = {"type": "SCHEMA", "stream": "c", "key_properties": ["id"], "schema": {"properties": {
        "id": {"type": "integer"}, "code": {"type": ["string", "null"], "maxLength": 3},
        "kind": {"type": ["string", "null"], "enum": ["A", "B"]},
        "n": {"type": ["integer", "null"], "minimum": 0},
        "when": {"type": ["string", "null"], "format": "date-time"},
        "d": {"type": ["string", "null"], "format": "date"}}}}
    bad_values = [("code", "ABCD"), ("kind", "C"), ("n", -1), ("when", "yesterday"), ("d", "2024-02-30"), ("id", "1")]
    for field, value in bad_values:
        rec = {"type": "RECORD", "stream": "c", "record": {"id": 1, field: value}}
        with pytest.raises(InputError) as err:
            run_target([schema, rec])
        assert (err.value.line, err.value.stream, err.value.field) == (2, "c", field), field
