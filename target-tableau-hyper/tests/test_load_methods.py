"""upsert (default with keys), deletes (hard and soft), append-only, overwrite."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest


def _rows(hyper_reader, path, order='"realm_id", "Id"'):
    return [
        {k: v for k, v in r.items()} for r in hyper_reader(path, order_by=order)["rows"]
    ]


def test_upsert_keeps_last_version_and_counts(run_target, hyper_reader, singer_resource):
    run = run_target(singer_resource("upsert.singer"))
    rows = _rows(hyper_reader, run_target.out_dir / "invoices.hyper")
    assert [(r["realm_id"], r["Id"], r["TotalAmt"], r["SyncToken"]) for r in rows] == [
        ("r1", "1", Decimal("110.10"), "1"),
        ("r1", "2", Decimal("200.00"), "0"),
        ("r2", "1", Decimal("5.55"), "0"),
    ]
    # hard delete (default): no _sdc_deleted_at column
    assert "_sdc_deleted_at" not in rows[0]
    assert run.counts["invoices"] == {"inserted": 3, "updated": 0, "deleted": 0}
    assert run.states[-1] == {"bookmarks": {"invoices": {"replication_key_value": "2024-01-02T10:00:00Z"}}}

    run2 = run_target(singer_resource("upsert_second_run.singer"))
    rows = _rows(hyper_reader, run_target.out_dir / "invoices.hyper")
    assert [(r["realm_id"], r["Id"], r["TotalAmt"]) for r in rows] == [
        ("r1", "1", Decimal("110.10")),
        ("r1", "2", Decimal("250.25")),
        ("r1", "3", Decimal("0.01")),
    ]
    # the delete of an unknown key (r9/404) deletes nothing
    assert run2.counts["invoices"] == {"inserted": 1, "updated": 1, "deleted": 1}


def test_rerun_of_same_input_is_idempotent(run_target, hyper_reader, singer_resource):
    for _ in range(3):
        run = run_target(singer_resource("upsert.singer"))
    rows = _rows(hyper_reader, run_target.out_dir / "invoices.hyper")
    assert len(rows) == 3
    assert run.counts["invoices"] == {"inserted": 0, "updated": 3, "deleted": 0}


def test_soft_delete_keeps_row_with_deletion_time(run_target, hyper_reader, singer_resource):
    run_target(singer_resource("upsert.singer"), hard_delete=False)
    run_target(singer_resource("upsert_second_run.singer"), hard_delete=False)
    rows = _rows(hyper_reader, run_target.out_dir / "invoices.hyper")
    by_key = {(r["realm_id"], r["Id"]): r for r in rows}
    assert set(by_key) == {("r1", "1"), ("r1", "2"), ("r1", "3"), ("r2", "1")}
    deleted = by_key[("r2", "1")]
    assert deleted["_sdc_deleted_at"].to_datetime().isoformat() == "2024-01-03T12:00:00+00:00"
    assert deleted["TotalAmt"] == Decimal("5.55")  # the row keeps its last values
    assert by_key[("r1", "2")]["_sdc_deleted_at"] is None


def test_append_only_keeps_every_record(run_target, hyper_reader, singer_resource):
    run = run_target(singer_resource("upsert.singer"), load_method="append-only")
    run_target(singer_resource("upsert.singer"), load_method="append-only")
    rows = hyper_reader(run_target.out_dir / "invoices.hyper")["rows"]
    assert len(rows) == 8
    assert run.counts["invoices"]["inserted"] == 4


def test_stream_without_keys_appends(run_target, hyper_reader):
    schema = {"type": "SCHEMA", "stream": "events", "key_properties": [], "schema": {"properties": {"n": {"type": "integer"}}}}
    recs = [{"type": "RECORD", "stream": "events", "record": {"n": i % 2}} for i in range(5)]
    run_target([schema, *recs])
    run_target([schema, *recs])
    assert len(hyper_reader(run_target.out_dir / "events.hyper")["rows"]) == 10


def test_overwrite_replaces_table_each_run(run_target, hyper_reader, singer_resource):
    run_target(singer_resource("upsert.singer"), load_method="overwrite")
    run_target(singer_resource("upsert_second_run.singer"), load_method="overwrite", batch_size_rows=1)
    rows = _rows(hyper_reader, run_target.out_dir / "invoices.hyper")
    # only the second run's rows; its deletes remove nothing left from the first run
    assert [(r["realm_id"], r["Id"]) for r in rows] == [("r1", "2"), ("r1", "3")]
    schema_only = singer_resource("upsert.singer").splitlines()[0] + "\n"
    run_target(schema_only, load_method="overwrite")
    assert hyper_reader(run_target.out_dir / "invoices.hyper")["rows"] == []


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_upsert_same_result_for_any_batch_size(run_target, hyper_reader, singer_resource, batch_size):
    text = singer_resource("upsert.singer") + singer_resource("upsert_second_run.singer")
    run_target(text, batch_size_rows=batch_size)
    rows = _rows(hyper_reader, run_target.out_dir / "invoices.hyper")
    assert [(r["realm_id"], r["Id"], r["TotalAmt"]) for r in rows] == [
        ("r1", "1", Decimal("110.10")),
        ("r1", "2", Decimal("250.25")),
        ("r1", "3", Decimal("0.01")),
    ]


def test_multi_table_file_and_publish_hook(run_target, hyper_reader, singer_resource, monkeypatch):
    calls = []
    import target_tableau_hyper.publishing as publishing

    monkeypatch.setattr(publishing, "publish_after_run", lambda **kw: calls.append(kw))
    text = singer_resource("upsert.singer") + singer_resource("parent_replace.singer")
    run = run_target(text, multi_table_file="qbo.hyper")
    path = run_target.out_dir / "qbo.hyper"
    data = hyper_reader(path, table="invoices")
    assert sorted(data["tables"]) == ["invoice_lines", "invoices"]
    assert len(data["rows"]) == 3
    assert len(hyper_reader(path, table="invoice_lines")["rows"]) == 3
    assert len(calls) == 1 and calls[0]["run_id"] == run.run_id
    assert calls[0]["hyper_files"] == {"invoices": str(path.resolve()), "invoice_lines": str(path.resolve())}
    assert calls[0]["target"] is run.target


def test_one_hyper_process_logs_in_configured_dir(run_target, tmp_path, singer_resource):
    logs = tmp_path / "hyperlogs"
    text = singer_resource("upsert.singer") + singer_resource("parent_replace.singer")
    run = run_target(text, hyper_log_dir=str(logs))
    assert run.target.engine.telemetry is False
    assert list(logs.glob("hyperd*.log")), "hyperd writes its log in hyper_log_dir"
    log_text = "".join(p.read_text() for p in logs.glob("hyperd*.log"))
    assert log_text.count('"k":"startup-settings"') == 1  # one HyperProcess for both streams
    assert '"default_database_version":2' in log_text
    assert json.dumps  # keep import used
