"""JSON-text columns of a flattened batch built as Arrow arrays (`flatten._dump_array`).

A column whose values are all arrays/objects written the way the SDK writes them becomes an
Arrow array over the source texts; any other column takes `_dump_column`, value by value. The
values must be the same either way: compared here with `_dump_column`'s own result, on canonical
columns (the array path) and on every kind of text that must not take it."""

from __future__ import annotations

import msgspec
import pyarrow as pa
import pytest

from target_tableau_hyper import flatten

EMPTY = flatten._EMPTY  # an absent property (the pick pass's default)


def _raws(*texts: bytes | None) -> list:
    return [EMPTY if t is None else msgspec.Raw(t) for t in texts]


def _reference(raws: list) -> pa.Array:
    return pa.array(flatten._dump_column(raws), type=pa.string())


def _count_value_path(monkeypatch) -> list:
    calls: list = []
    original = flatten._dump_column

    def counting(raws, chunk=64):
        calls.append(len(raws))
        return original(raws, chunk)

    monkeypatch.setattr(flatten, "_dump_column", counting)
    return calls


CANONICAL = [
    b'[{"Id":"1","LineNum":1,"Amount":300.00,"DetailType":"SalesItemLineDetail",'
    b'"SalesItemLineDetail":{"ItemRef":{"value":"1","name":"Services"},"UnitPrice":100,"Qty":3}}]',
    b'[]',
    b'{}',
    b'[{"TxnId":"12","TxnType":"Invoice"}]',
    b'[{"a":-0.5,"b":0.000001,"c":true,"d":false,"e":null,"f":"x \\"quoted\\" \\\\ \\n\\t"}]',
    b'[[1,2,[3]],{"k":{"k":{"k":[]}}}]',
]


def test_canonical_column_is_built_on_the_source_texts(monkeypatch):
    raws = _raws(*CANONICAL, None, *CANONICAL)
    expected = _reference(raws)
    calls = _count_value_path(monkeypatch)
    got = flatten._dump_array(raws)
    got.validate(full=True)
    assert calls == []  # no value-by-value pass
    assert got.type == pa.string()
    assert got.equals(expected)
    assert got.to_pylist() == [t.decode() for t in CANONICAL] + [None] + [t.decode() for t in CANONICAL]


def test_every_value_absent_and_no_value():
    for raws in (_raws(None, None, None), []):
        got = flatten._dump_array(raws)
        assert got.equals(_reference(raws)) and got.null_count == len(raws)


@pytest.mark.parametrize("odd", [
    b'[ 1, 2 ]',  # whitespace: the SDK writes compact text
    b'[{"a": 1}]',
    b'[1.0e+5]',  # numbers written differently than Decimal/msgspec write them (1.0E+5)
    b'[0.0000001]',
    b'[1e5]',
    b'[-0]',
    b'["\\u00e9t\\u00e9"]',  # escapes and non-ASCII: the SDK's own encoder decides
    '["été"]'.encode(),
    b'["a\\/b"]',
    b'["\x7f"]',
    b'[{"n":"x","n":"y"}]',  # a repeated key: the last value, as the SDK's dict keeps it
    b'"a string stays a string"',
    b'null',
])
def test_other_text_takes_the_value_path_with_the_same_result(odd, monkeypatch):
    # the odd value far from the start: its piece falls back, and so does the column
    raws = _raws(*(CANONICAL * 20), odd, *CANONICAL)
    expected = _reference(raws)
    calls = _count_value_path(monkeypatch)
    got = flatten._dump_array(raws)
    assert calls  # the value-by-value pass decided
    assert got.equals(expected)


@pytest.mark.parametrize("bad", [b'12', b'true', b'1.5'])
def test_number_or_boolean_in_a_text_column_falls_back_like_the_value_path(bad):
    raws = _raws(CANONICAL[0], bad)
    with pytest.raises(flatten.Fallback):
        flatten._dump_column(raws)
    with pytest.raises(flatten.Fallback):
        flatten._dump_array(raws)


def test_pieces_of_any_size_give_the_same_array():
    raws = _raws(*[CANONICAL[i % len(CANONICAL)] if i % 7 else None for i in range(300)])
    expected = _reference(raws)
    for chunk in (1, 2, 63, 64, 65, 1000):
        assert flatten._dump_array(raws, chunk).equals(expected)
