"""The reader's per-chunk line index (Arrow split for big blocks, Python for small ones) against a
plain Python reading of the lines."""

from __future__ import annotations

import io
import json
import random

import pytest

from target_tableau_hyper import audit, reader
from target_tableau_hyper.reader import _LineIndex, _SmallLineIndex
from target_tableau_hyper.target import TargetTableauHyper

PREFIXES = ((b'{"type":"RECORD","stream":"a","record":{', b'{"type": "RECORD", "stream": "a", "record": {'),
            (b'{"type":"RECORD","stream":"b","record":{',))
LINES = [
    b'{"type":"RECORD","stream":"a","record":{"id":1}}',
    b'{"type": "RECORD", "stream": "a", "record": {"id": 2}}',
    b'{"type":"RECORD","stream":"b","record":{"id":3}}',
    b'{"type":"STATE","value":{"n":1}}',
    b'{"stream":"a","type":"RECORD","record":{"id":4}}',
    b"",
    b'{"type":"RECORD","stream":"a","record":{"id":5}}\r',
    b'{"type":"RECORD","stream":"a","record":{"note":"x\\ny"}}',
]


def _expected(block: bytes) -> tuple[list[int], dict]:
    lines = block.split(b"\n")[:-1]
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    starts.append(pos)  # the end, for the piece after the last newline
    others = {p: [i for i, line in enumerate(lines) if not line.startswith(p)] + [len(lines)] for p in PREFIXES}
    return starts, others


@pytest.mark.parametrize("index_class", [_LineIndex, _SmallLineIndex])
def test_line_index_matches_python_lines(index_class):
    rng = random.Random(7)
    for _ in range(300):
        lines = [rng.choice(LINES) for _ in range(rng.randrange(1, 40))]
        head = b"x" * rng.randrange(0, 5) + b"\n" * rng.randrange(0, 2)  # data before the block
        block = b"\n".join(lines) + b"\n"
        data = head + block + b'{"partial'  # a cut line after the block
        index = index_class(data, len(head), len(head) + len(block))
        starts, others = _expected(block)
        assert [index.start(i) - len(head) for i in range(len(starts))] == starts
        for prefixes in PREFIXES:
            assert index.others(prefixes) == others[prefixes]
            assert index.others(prefixes) is index.others(prefixes)  # computed once per block


def _mixed_input() -> str:
    schema_a = {"type": "SCHEMA", "stream": "a", "key_properties": ["id"],
                "schema": {"properties": {"id": {"type": "integer"}, "v": {"type": ["string", "null"]}}}}
    schema_b = {"type": "SCHEMA", "stream": "b", "key_properties": ["id"],
                "schema": {"properties": {"id": {"type": "integer"}}}}
    lines = [json.dumps(schema_a), json.dumps(schema_b)]
    rng = random.Random(11)
    for i in range(400):
        k = rng.randrange(10)
        rid = rng.randrange(150)  # repeated keys: the last version wins
        if k < 6:
            lines.append('{"type":"RECORD","stream":"a","record":{"id":%d,"v":"x%d"}}' % (rid, i))
        elif k == 6:
            lines.append('{"type": "RECORD", "stream": "a", "record": {"id": %d, "v": "y%d"}}' % (rid, i))
        elif k == 7:
            lines.append('{"stream":"a","type":"RECORD","record":{"v":"z%d","id":%d}}' % (i, rid))
        elif k == 8:
            lines.append('{"type":"RECORD","stream":"b","record":{"id":%d}}' % rid)
        else:
            lines.append('{"type":"STATE","value":{"n":%d}}' % i)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("chunk", [200, 1 << 22])
def test_arrow_and_python_indexes_load_the_same(tmp_path, monkeypatch, hyper_reader, chunk):
    """The same input read with every block indexed by Arrow, then every block by Python: the same
    rows, the same audit lines and operations, in the same batches."""
    text = _mixed_input()
    monkeypatch.setattr(reader, "CHUNK", chunk)
    results = []
    for small_block in (0, 1 << 40):
        monkeypatch.setattr(reader, "SMALL_BLOCK", small_block)
        out = tmp_path / f"out-{small_block}"
        target = TargetTableauHyper(config={"output_dir": str(out), "batch_size_rows": 23})
        target.listen_safely(io.BytesIO(text.encode()))
        engine = audit.make_engine(audit.default_url(str(out)))
        with engine.connect() as conn:
            recs = [(r.stream, r.record_key, r.operation, r.line) for s in ("a", "b")
                    for r in conn.execute(audit.run_record_rows(conn, target.run_id, s))]
        engine.dispose()
        rows = {s: sorted(tuple(sorted(r.items())) for r in hyper_reader(out / f"{s}.hyper")["rows"]) for s in ("a", "b")}
        results.append((rows, recs))
    assert results[0] == results[1]
    rows, recs = results[0]
    assert len(recs) == sum(1 for line in text.splitlines() if '"RECORD"' in line)
    assert len(rows["a"]) == len({r[1] for r in recs if r[0] == "a"})
