"""The delta .hyper sent by an incremental publish: only touched keys, deletes before upserts."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from target_tableau_hyper.publishing.hyperfiles import (
    TableChange,
    build_combined,
    build_delta,
    hyper_process,
    read_rows,
    schema_signature,
)
from target_tableau_hyper.publishing.testing import LINE_COLUMNS, write_extract, write_invoices


@pytest.fixture(scope="module")
def hyper():
    with hyper_process() as process:
        yield process


def test_delta_holds_touched_rows_and_gone_keys(hyper, tmp_path):
    local = write_invoices(hyper, str(tmp_path / "invoices.hyper"), {i: 0 for i in range(1, 101)} | {5: 2})
    change = TableChange("invoices", local, None, ["realm_id", "Id"], ["realm_id", "Id"],
                         [("r1", "5"), ("r1", "7"), ("r1", "404"), ("r1", "5")])
    delta = build_delta(hyper, [change], str(tmp_path / "delta.hyper"))

    assert delta.rows_upserted == 2 and delta.rows_deleted == 1
    assert [a["action"] for a in delta.actions] == ["delete", "upsert"]
    upsert = delta.actions[1]
    assert (upsert["target-schema"], upsert["target-table"]) == ("Extract", "Extract")
    assert upsert["condition"] == {"op": "and", "args": [
        {"op": "eq", "target-col": "realm_id", "source-col": "realm_id"},
        {"op": "eq", "target-col": "Id", "source-col": "Id"}]}
    rows = read_rows(hyper, delta.path, ("Extract", upsert["source-table"]), order_by=["Id"])
    assert rows == [["r1", "5", "INV-5-v2", Decimal("5.02")], ["r1", "7", "INV-7-v0", Decimal("7.00")]]
    deletes = read_rows(hyper, delta.path, ("Extract", delta.actions[0]["source-table"]))
    assert deletes == [["r1", "404"]]


def test_line_stream_replaces_whole_parents(hyper, tmp_path):
    lines = [["r1", "10", 0, Decimal("1.00")], ["r1", "10", 1, Decimal("2.00")], ["r1", "11", 0, Decimal("3.00")]]
    local = write_extract(hyper, str(tmp_path / "invoice_lines.hyper"), lines, LINE_COLUMNS)
    change = TableChange("invoice_lines", local, None, ["realm_id", "txn_id", "line_index"],
                         ["realm_id", "txn_id"], [("r1", "10"), ("r1", "12")], replace_scope=True)
    delta = build_delta(hyper, [change], str(tmp_path / "delta.hyper"))

    # every touched parent is cleared first (10 may have had more lines; 12 was deleted), then 10's lines
    assert [a["action"] for a in delta.actions] == ["delete", "upsert"]
    assert delta.actions[0]["condition"]["args"][1] == {"op": "eq", "target-col": "txn_id", "source-col": "txn_id"}
    assert delta.rows_deleted == 2 and delta.rows_upserted == 2
    deleted = read_rows(hyper, delta.path, ("Extract", delta.actions[0]["source-table"]), order_by=["txn_id"])
    assert deleted == [["r1", "10"], ["r1", "12"]]


def test_nothing_touched_means_no_actions(hyper, tmp_path):
    local = write_invoices(hyper, str(tmp_path / "invoices.hyper"), {1: 0})
    delta = build_delta(hyper, [TableChange("invoices", local, None, ["realm_id", "Id"], ["realm_id", "Id"], [])],
                        str(tmp_path / "delta.hyper"))
    assert delta.actions == [] and delta.rows_upserted == 0 and delta.rows_deleted == 0


def test_delta_size_follows_the_change_not_the_table(hyper, tmp_path):
    local = write_invoices(hyper, str(tmp_path / "invoices.hyper"), {i: 0 for i in range(50_000)})
    small = build_delta(hyper, [TableChange("invoices", local, None, ["realm_id", "Id"], ["realm_id", "Id"],
                                            [("r1", str(i)) for i in range(10)])], str(tmp_path / "small.hyper"))
    big = build_delta(hyper, [TableChange("invoices", local, None, ["realm_id", "Id"], ["realm_id", "Id"],
                                          [("r1", str(i)) for i in range(20_000)])], str(tmp_path / "big.hyper"))
    assert small.rows_upserted == 10 and big.rows_upserted == 20_000
    assert small.size < big.size
    assert small.size < (tmp_path / "invoices.hyper").stat().st_size


def test_combined_file_has_one_table_per_stream(hyper, tmp_path):
    invoices = write_invoices(hyper, str(tmp_path / "invoices.hyper"), {1: 0, 2: 0})
    lines = write_extract(hyper, str(tmp_path / "invoice_lines.hyper"), [["r1", "1", 0, Decimal("1.50")]], LINE_COLUMNS)
    path = build_combined(hyper, [("invoices", invoices), ("invoice_lines", lines)], str(tmp_path / "all.hyper"))
    assert len(read_rows(hyper, path, ("Extract", "invoices"))) == 2
    assert read_rows(hyper, path, ("Extract", "invoice_lines")) == [["r1", "1", 0, Decimal("1.50")]]


def test_schema_signature_changes_with_columns(hyper, tmp_path):
    a = write_invoices(hyper, str(tmp_path / "a.hyper"), {1: 0})
    b = write_extract(hyper, str(tmp_path / "b.hyper"), [["r1", "1", 0, None]], LINE_COLUMNS)
    assert json.loads(schema_signature(hyper, a))[3] == ["TotalAmt", "NUMERIC(18, 2)"]
    assert schema_signature(hyper, a) != schema_signature(hyper, b)
