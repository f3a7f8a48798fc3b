"""The reader's per-chunk line index (Arrow split) against a plain Python reading of the lines."""

from __future__ import annotations

import random

from target_tableau_hyper.reader import _LineIndex

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


def test_line_index_matches_python_lines():
    rng = random.Random(7)
    for _ in range(300):
        lines = [rng.choice(LINES) for _ in range(rng.randrange(1, 40))]
        head = b"x" * rng.randrange(0, 5) + b"\n" * rng.randrange(0, 2)  # data before the block
        block = b"\n".join(lines) + b"\n"
        data = head + block + b'{"partial'  # a cut line after the block
        index = _LineIndex(data, len(head), len(head) + len(block))
        starts, others = _expected(block)
        assert [index.start(i) - len(head) for i in range(len(starts))] == starts
        for prefixes in PREFIXES:
            assert index.others(prefixes) == others[prefixes]
            assert index.others(prefixes) is index.others(prefixes)  # computed once per block
