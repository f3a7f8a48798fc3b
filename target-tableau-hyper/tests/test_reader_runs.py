"""The reader's hot path: runs of RECORD lines handed to the sink per chunk, not per line.

Runs are cut at batch boundaries and at chunk boundaries (a tiny chunk size here), mixed with
other messages, other streams and RECORD lines written differently; every record keeps its
input line number (audit `line`, error messages) and its message order.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from target_tableau_hyper import audit, reader
from target_tableau_hyper.errors import InputError
from target_tableau_hyper.target import TargetTableauHyper

SCHEMA_A = {"type": "SCHEMA", "stream": "lines", "key_properties": ["realm_id", "txn_id", "line_index"],
            "schema": {"x-parent-key": ["realm_id", "txn_id"], "properties": {
                "realm_id": {"type": "string"}, "txn_id": {"type": "string"},
                "line_index": {"type": ["integer", "null"]},
                "Amount": {"type": ["number", "null"], "multipleOf": 0.01},
                "updated_at": {"type": ["string", "null"], "format": "date-time"},
                "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}}}
SCHEMA_B = {"type": "SCHEMA", "stream": "other", "key_properties": ["id"],
            "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}}}


def compact(txn: int, idx: int, amount: str) -> str:
    return ('{"type":"RECORD","stream":"lines","record":{"realm_id":"r1","txn_id":"%d","line_index":%d,'
            '"Amount":%s,"updated_at":"2024-03-01T10:00:00-08:00"},"time_extracted":"2024-03-01T18:00:00Z"}'
            % (txn, idx, amount))


def build_input() -> tuple[str, dict[str, int], dict[tuple, str]]:
    """Singer text; the expected input line of each record key; the expected final amounts."""
    lines = [json.dumps(SCHEMA_A), json.dumps(SCHEMA_B)]
    line_of: dict[str, int] = {}
    final: dict[tuple, str] = {}
    for i in range(60):
        txn, idx = i // 3, i % 3
        amount = f"{i}.{i % 100:02d}"
        if i % 17 == 5:  # the same record in another layout: the per-line path, in order
            rec = {"type": "RECORD", "record": {"line_index": idx, "txn_id": str(txn), "realm_id": "r1",
                                                "Amount": "AMOUNT"}, "stream": "lines"}
            lines.append(json.dumps(rec).replace('"AMOUNT"', amount))
        elif i % 13 == 7:  # spaced layout (json.dumps default separators)
            lines.append(compact(txn, idx, amount).replace('":', '": ').replace(',"', ', "'))
        else:
            lines.append(compact(txn, idx, amount))
        line_of[json.dumps(["r1", str(txn), idx], separators=(",", ":"))] = len(lines)
        final[(str(txn), idx)] = amount
        if i % 10 == 9:
            lines.append('{"type":"STATE","value":{"n":%d}}' % i)
        if i % 11 == 3:
            lines.append('{"type":"RECORD","stream":"other","record":{"id":%d,"name":"x%d"}}' % (i, i))
        if i == 30:
            lines.append("")  # blank line
    # a later version of txn 2's line 0: the last one wins, the earlier one is superseded
    lines.append(compact(2, 0, "999.99"))
    final[("2", 0)] = "999.99"
    return "\n".join(lines), line_of, final  # no newline after the last line


@pytest.mark.parametrize("chunk", [64, 1 << 22])
def test_runs_keep_order_line_numbers_and_batches(tmp_path, monkeypatch, hyper_reader, chunk):
    monkeypatch.setattr(reader, "CHUNK", chunk)
    text, line_of, final = build_input()
    out = tmp_path / "out"
    target = TargetTableauHyper(config={"output_dir": str(out), "batch_size_rows": 7})
    target.listen_safely(io.BytesIO(text.encode()))
    rows = hyper_reader(out / "lines.hyper")["rows"]
    assert {(r["txn_id"], r["line_index"]): r["Amount"] for r in rows} == {k: Decimal(v) for k, v in final.items()}
    assert len(rows) == len(final)
    assert {r["id"] for r in hyper_reader(out / "other.hyper")["rows"]} == {i for i in range(60) if i % 11 == 3}

    engine = audit.make_engine(audit.default_url(str(out)))
    with engine.connect() as conn:
        recs = [dict(r._mapping) for r in conn.execute(audit.run_record_rows(conn, target.run_id, "lines"))]
        sizes = [r.records for r in conn.execute(
            audit.batches.select().where(audit.batches.c.run_id == target.run_id, audit.batches.c.stream == "lines"))]
    engine.dispose()
    assert max(sizes) <= 7 and sum(sizes) == 61
    total_lines = text.count("\n") + 1
    assert [r["line"] for r in recs] == sorted(r["line"] for r in recs)  # message order
    for r in recs:
        if r["line"] != total_lines:
            assert r["line"] == line_of[r["record_key"]], r
    # the later version of txn 2's line 0, in a later batch than the first: an update
    assert recs[-1]["line"] == total_lines and recs[-1]["record_key"] == '["r1","2",0]'
    assert recs[-1]["operation"] == "update"
    assert len(recs) == 61 and {r["record_key"] for r in recs[:-1]} == set(line_of)


@pytest.mark.parametrize("chunk", [64, 1 << 22])
@pytest.mark.parametrize(("bad", "words", "field"), [
    ('{"type":"RECORD","stream":"lines","record":{"realm_id":"r1","txn_id":"9","line_index":1,"Amount":1.00', "malformed JSON", None),
    ('{"type":"RECORD","stream":"lines","record":{"realm_id":"r1","txn_id":"9","line_index":1,"Amount":"x"}}', "record violates its schema", "Amount"),
    ('{"type":"RECORD","stream":"lines","record":{"realm_id":"r1","txn_id":"9","line_index":1,"Amount":1.001}}', "does not fit", "Amount"),
    ('{"type":"RECORD","stream":"lines","record":{"realm_id":"r1","txn_id":"9","line_index":1,"updated_at":"soon"}}', "record violates its schema", "updated_at"),
])
def test_bad_record_inside_a_run_names_its_line(run_target, monkeypatch, chunk, bad, words, field):
    monkeypatch.setattr(reader, "CHUNK", chunk)
    good = [compact(i, 0, "1.00") for i in range(40)]
    text = "\n".join([json.dumps(SCHEMA_A), *good[:25], bad, *good[25:]]) + "\n"
    with pytest.raises(InputError) as err:
        run_target(text)
    assert (err.value.line, err.value.stream, err.value.field) == (27, "lines", field)
    assert words in str(err.value)


def test_text_input_and_exact_decimals(tmp_path, hyper_reader):
    """A text stream (not bytes) is read the same way; amounts stay exact."""
    out = tmp_path / "out"
    text = "\n".join([json.dumps(SCHEMA_A), compact(1, 0, "12345678901.23"), compact(1, 1, "0.10")]) + "\n"
    target = TargetTableauHyper(config={"output_dir": str(out)})
    target.listen_safely(io.StringIO(text))
    amounts = sorted(r["Amount"] for r in hyper_reader(out / "lines.hyper")["rows"])
    assert amounts == [Decimal("0.10"), Decimal("12345678901.23")]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_non_ascii_stream_names_read_as_runs(tmp_path, monkeypatch, hyper_reader, ensure_ascii):
    """A stream name outside ASCII, written escaped (json) or as UTF-8 (msgspec, orjson): its
    RECORD lines are runs like any other's."""
    from target_tableau_hyper.sink import HyperSink

    in_runs = []
    add_run = HyperSink.add_run
    monkeypatch.setattr(HyperSink, "add_run", lambda self, view, first, count: (
        in_runs.append(count), add_run(self, view, first, count))[1])
    stream = "Kunden Übersicht 😀"
    schema = {**SCHEMA_B, "stream": stream}
    lines = [json.dumps(schema, ensure_ascii=ensure_ascii)]
    lines += [json.dumps({"type": "RECORD", "stream": stream, "record": {"id": i, "name": f"n{i}"}},
                         ensure_ascii=ensure_ascii, separators=(",", ":")) for i in range(20)]
    lines.append('{"type":"STATE","value":{"done":true}}')
    out = tmp_path / "out"
    target = TargetTableauHyper(config={"output_dir": str(out)})
    target.listen_safely(io.BytesIO("\n".join(lines).encode()))
    assert sum(in_runs) == 20
    assert sorted(r["id"] for r in hyper_reader(out / f"{stream}.hyper")["rows"]) == list(range(20))
