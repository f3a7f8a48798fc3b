"""Parent-scoped replace of line streams (x-parent-key + parent tombstones), across batches."""

from __future__ import annotations

from decimal import Decimal

import pytest

EXPECTED = [
    ("r1", "10", 0, Decimal("12.00"), "a2"),
    ("r1", "10", 1, Decimal("22.00"), "b2"),
    ("r2", "10", 0, Decimal("1.00"), "other realm"),
]


def _lines(hyper_reader, path):
    rows = hyper_reader(path, order_by='"realm_id", "txn_id", "line_index"')["rows"]
    return [(r["realm_id"], r["txn_id"], r["line_index"], r["Amount"], r["Description"]) for r in rows]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 100])
def test_tombstone_replaces_parent_lines_in_any_batching(run_target, hyper_reader, singer_resource, batch_size):
    run = run_target(singer_resource("parent_replace.singer"), batch_size_rows=batch_size)
    assert _lines(hyper_reader, run_target.out_dir / "invoice_lines.hyper") == EXPECTED
    assert run.states[-1] == {"bookmarks": {"invoice_lines": {"pos": 12}}}


def test_tombstone_in_later_run_removes_committed_lines(run_target, hyper_reader, singer_resource):
    run_target(singer_resource("parent_replace.singer"))
    schema = singer_resource("parent_replace.singer").splitlines()[0]
    changed = "\n".join([
        schema,
        '{"type":"RECORD","stream":"invoice_lines","record":{"realm_id":"r1","txn_id":"10","line_index":null,"_sdc_deleted_at":"2024-02-01T00:00:00Z"}}',
        '{"type":"RECORD","stream":"invoice_lines","record":{"realm_id":"r1","txn_id":"10","line_index":0,"Amount":99.99,"Description":"only line"}}',
    ]) + "\n"
    run = run_target(changed)
    assert _lines(hyper_reader, run_target.out_dir / "invoice_lines.hyper") == [
        ("r1", "10", 0, Decimal("99.99"), "only line"),
        ("r2", "10", 0, Decimal("1.00"), "other realm"),
    ]
    # the tombstone removed 2 committed rows, then one line was inserted
    assert run.counts["invoice_lines"] == {"inserted": 1, "updated": 0, "deleted": 2}


def test_lines_before_tombstone_dropped_even_when_split_across_batches(run_target, hyper_reader, singer_resource):
    schema = singer_resource("parent_replace.singer").splitlines()[0]
    rec = '{"type":"RECORD","stream":"invoice_lines","record":{"realm_id":"r1","txn_id":"7","line_index":%s,"Amount":%s%s}}'
    tomb = '{"type":"RECORD","stream":"invoice_lines","record":{"realm_id":"r1","txn_id":"7","line_index":null,"_sdc_deleted_at":"2024-01-01T00:00:00Z"}}'
    lines = [schema, rec % (0, "1.00", ""), rec % (1, "2.00", ""), rec % (2, "3.00", ""), tomb,
             rec % (0, "4.00", ""), tomb, rec % (1, "5.00", "")]
    for batch_size in (1, 2, 3, 4, 10):
        run_target("\n".join(lines) + "\n", batch_size_rows=batch_size)
        rows = hyper_reader(run_target.out_dir / "invoice_lines.hyper", order_by='"line_index"')["rows"]
        assert [(r["line_index"], r["Amount"]) for r in rows] == [(1, Decimal("5.00"))], batch_size


def test_soft_delete_marks_parent_lines(run_target, hyper_reader, singer_resource):
    # batch size 1: every line is committed before a later tombstone marks it
    run_target(singer_resource("parent_replace.singer"), hard_delete=False, batch_size_rows=1)
    rows = hyper_reader(run_target.out_dir / "invoice_lines.hyper", order_by='"realm_id", "txn_id", "line_index"')["rows"]
    live = [(r["txn_id"], r["line_index"], r["Amount"]) for r in rows if r["_sdc_deleted_at"] is None]
    gone = [(r["txn_id"], r["line_index"]) for r in rows if r["_sdc_deleted_at"] is not None]
    assert live == [("10", 0, Decimal("12.00")), ("10", 1, Decimal("22.00")), ("10", 0, Decimal("1.00"))]
    assert gone == [("10", 2), ("11", 0)]


def test_null_non_parent_key_without_deletion_is_an_error(run_target, singer_resource):
    from target_tableau_hyper.errors import InputError

    schema = singer_resource("parent_replace.singer").splitlines()[0]
    bad = '{"type":"RECORD","stream":"invoice_lines","record":{"realm_id":"r1","txn_id":"7","line_index":null,"Amount":1.00}}'
    with pytest.raises(InputError) as err:
        run_target(schema + "\n" + bad + "\n")
    assert err.value.line == 2 and err.value.field == "line_index"
