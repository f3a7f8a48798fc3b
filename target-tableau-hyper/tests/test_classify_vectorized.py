"""Batch classification in Arrow (`Batch._classify_vectorized`, the path of a line stream's
batches: every one holds parent tombstones) gives exactly what the record-by-record `_classify`
gives, and hands every batch it does not cover (a key twice, a parent tombstoned twice, a line
before its parent's tombstone, a null key outside a tombstone) to `_classify`."""

from __future__ import annotations

import json
import random

import pytest

from target_tableau_hyper.batch import Batch
from target_tableau_hyper.errors import MissingKeyError
from target_tableau_hyper.records import StreamModel
from target_tableau_hyper.types import Column

LINES_SCHEMA = {
    "type": "object",
    "x-parent-key": ["realm_id", "txn_id"],
    "properties": {
        "realm_id": {"type": "string"},
        "txn_id": {"type": ["string", "null"]},
        "line_index": {"type": ["integer", "null"]},
        "amount": {"type": ["number", "null"], "multipleOf": 0.01},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
ENTITY_SCHEMA = {
    "type": "object",
    "properties": {
        "realm_id": {"type": "string"},
        "Id": {"type": ["string", "null"]},
        "Name": {"type": ["string", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
META = {"_sdc_batched_at": None, "_sdc_received_at": None, "_sdc_sync_started_at": None}
DELETED = "2024-05-01T10:00:00Z"


@pytest.fixture(autouse=True)
def _small_batches_in_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Batch, "VECTORIZED_MIN_RECORDS", 0)  # these tests' batches are small


def _model(schema: dict, keys: list[str]) -> StreamModel:
    return StreamModel.build("s", schema, keys, keep_deleted_at=False)


def _batch(model: StreamModel, records: list[dict]) -> Batch:
    batch = Batch(model)
    text = "".join(json.dumps({"type": "RECORD", "stream": "s", "record": r}) + "\n" for r in records)
    batch.add_run(text.encode(), 10, len(records))
    return batch


def _prepare(model: StreamModel, records: list[dict], *, vectorized: bool, keyed: bool = True,
             audited: bool = True) -> tuple:
    batch = _batch(model, records)
    if not vectorized:
        batch._classify_vectorized = lambda *args: None
    columns = [c for c in model.columns] + [Column("_sdc_deleted_at", "timestamptz")]
    prepared = batch.prepare(columns, keyed=keyed, metadata=META, audited=audited)
    keys = prepared.audit_keys if isinstance(prepared.audit_keys, list) else prepared.audit_keys.to_pylist()
    staged = prepared.table.select(["txn_id" if "txn_id" in model.field_of else "Id", "_ttH_seq", "_ttH_op"])
    return prepared.ops, prepared.kept, prepared.dropped, keys, staged.to_pylist()


def _tap_like_lines(rng: random.Random, parents: list[str]) -> list[dict]:
    """What the tap sends: per emitted parent a tombstone, then its current lines."""
    records = []
    for txn in parents:
        records.append({"realm_id": "9130", "txn_id": txn, "line_index": None, "_sdc_deleted_at": DELETED})
        for i in range(rng.randrange(0, 4)):
            records.append({"realm_id": "9130", "txn_id": txn, "line_index": i, "amount": rng.randrange(10**6) / 100})
    return records


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records whether each `_classify_vectorized` call covered its batch."""
    covered: list[bool] = []
    original = Batch._classify_vectorized

    def spy(self, *args):
        result = original(self, *args)
        covered.append(result is not None)
        return result

    monkeypatch.setattr(Batch, "_classify_vectorized", spy)
    return covered


def test_tap_line_batches_are_classified_in_arrow_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(LINES_SCHEMA, ["realm_id", "txn_id", "line_index"])
    rng = random.Random(7)
    for trial in range(20):
        records = _tap_like_lines(rng, [str(1000 + k) for k in rng.sample(range(200), 30)])
        if trial % 3 == 0:  # a hard delete of a single line too
            records.append({"realm_id": "9130", "txn_id": "5", "line_index": 2, "_sdc_deleted_at": DELETED})
        slow = _prepare(model, records, vectorized=False)
        covered = _spy(monkeypatch)
        assert _prepare(model, records, vectorized=True) == slow
        assert covered == [True]
        monkeypatch.setattr(Batch, "_classify_vectorized", Batch.__dict__["_classify_vectorized"])
    ops = slow[0]
    assert "P" in ops and "U" in ops


@pytest.mark.parametrize("case", ["line twice", "parent twice", "line before tombstone", "control char key"])
def test_other_batches_go_record_by_record_with_the_same_result(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(LINES_SCHEMA, ["realm_id", "txn_id", "line_index"])
    records = _tap_like_lines(random.Random(3), ["1", "2", "3"])
    line = {"realm_id": "9130", "txn_id": "2", "line_index": 0, "amount": 1.5}
    tomb = {"realm_id": "9130", "txn_id": "2", "line_index": None, "_sdc_deleted_at": DELETED}
    if case == "line twice":
        records += [line, dict(line, amount=2.5)]
    elif case == "parent twice":
        records += [tomb, line, tomb]
    elif case == "line before tombstone":
        records = [line] + records + [tomb, dict(line, line_index=1)]
    else:
        records += [dict(tomb, txn_id="a\nb"), dict(line, txn_id="a\nb")]
    slow = _prepare(model, records, vectorized=False)
    covered = _spy(monkeypatch)
    fast = _prepare(model, records, vectorized=True)
    assert fast == slow
    if case == "control char key":
        assert covered == [True]  # classified in Arrow, keys written by msgspec
        assert '["9130","a\\nb",0]' in fast[3]
    else:
        assert covered == [False]
        assert not all(fast[1])  # superseded or dropped rows


def test_entity_deletes_and_append_only_and_unaudited() -> None:
    model = _model(ENTITY_SCHEMA, ["realm_id", "Id"])
    records = [{"realm_id": "1", "Id": str(i), "Name": f"n{i}"} for i in range(20)]
    records[5] = {"realm_id": "1", "Id": "5", "_sdc_deleted_at": DELETED}
    records[9] = {"realm_id": "1", "Id": "9", "_sdc_deleted_at": DELETED}
    for keyed in (True, False):
        for audited in (True, False):
            assert _prepare(model, records, vectorized=True, keyed=keyed, audited=audited) == \
                _prepare(model, records, vectorized=False, keyed=keyed, audited=audited)
    ops = _prepare(model, records, vectorized=True)[0]
    assert ops.count("D") == 2 and ops.count("U") == 18


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_null_key_outside_a_tombstone_names_its_line(vectorized: bool) -> None:
    model = _model(LINES_SCHEMA, ["realm_id", "txn_id", "line_index"])
    records = _tap_like_lines(random.Random(5), ["1", "2"])
    records.append({"realm_id": "9130", "txn_id": "2", "line_index": None, "amount": 1})  # no _sdc_deleted_at
    with pytest.raises(MissingKeyError) as info:
        _prepare(model, records, vectorized=vectorized)
    assert info.value.line == 10 + len(records) - 1
    assert "line_index" in str(info.value)


def _audit_ops_by_record(ops: list[str], seqs: list[int], existed: set[int]) -> tuple[list[str], int, int, int]:
    """The sink's record-by-record rule for a batch whose records were all staged."""
    out, inserted, updated, deleted = [], 0, 0, 0
    for seq, op in zip(seqs, ops):
        if op == "P":
            out.append("parent_delete")
        elif op == "D":
            out.append("delete")
            deleted += seq in existed
        elif seq in existed:
            out.append("update")
            updated += 1
        else:
            out.append("insert")
            inserted += 1
    return out, inserted, updated, deleted


@pytest.mark.parametrize("existed", [set(), {11, 12, 15}, {10, 11, 12, 13, 14, 15, 16}])
def test_audit_operations_of_a_fully_staged_batch_in_arrow(existed: set[int]) -> None:
    from target_tableau_hyper.sink import _audit_ops

    ops = ["P", "U", "U", "D", "P", "U", "D"]
    seqs = list(range(10, 17))
    out, inserted, updated, deleted = _audit_ops(ops, seqs, existed)
    assert (out.to_pylist(), inserted, updated, deleted) == _audit_ops_by_record(ops, seqs, existed)


def test_a_small_batch_is_classified_record_by_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Batch, "VECTORIZED_MIN_RECORDS", 1000)
    covered = _spy(monkeypatch)
    model = _model(LINES_SCHEMA, ["realm_id", "txn_id", "line_index"])
    records = _tap_like_lines(random.Random(9), [str(k) for k in range(20)])
    assert _prepare(model, records, vectorized=True)[0].count("P") == 20
    assert covered == []


def _singer(records: list[dict]) -> bytes:
    schema = {"type": "SCHEMA", "stream": "s_lines", "schema": LINES_SCHEMA,
              "key_properties": ["realm_id", "txn_id", "line_index"]}
    lines = [json.dumps(schema)] + [json.dumps({"type": "RECORD", "stream": "s_lines", "record": r}) for r in records]
    return ("\n".join(lines) + '\n{"type":"STATE","value":{"done":1}}\n').encode()


def _load_twice(tmp_path, minimum: int) -> tuple[list, list, list]:
    """Two runs of a line stream (the second re-sends some parents with other lines and deletes
    others) through the target; → (table rows, audit rows, per-run counts)."""
    import io
    import sqlite3

    from tableauhyperapi import Connection, HyperProcess, TableName, Telemetry

    from target_tableau_hyper.target import TargetTableauHyper

    Batch.VECTORIZED_MIN_RECORDS = minimum  # restored by the autouse fixture's monkeypatch
    out = tmp_path / f"min{minimum}"
    rng = random.Random(11)
    first = _tap_like_lines(rng, [str(k) for k in range(600)])
    second = _tap_like_lines(rng, [str(k) for k in range(0, 600, 2)] + [str(k) for k in range(600, 900)])
    second += [{"realm_id": "9130", "txn_id": str(k), "line_index": 0, "amount": 9.99} for k in range(3, 200, 2)]
    second.append({"realm_id": "9130", "txn_id": "1", "line_index": 0, "_sdc_deleted_at": DELETED})
    for records in (first, second):
        target = TargetTableauHyper(config={"output_dir": str(out), "batch_size_rows": 5000})
        target.listen_safely(io.BytesIO(_singer(records)))
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp, \
            Connection(hp.endpoint, str(out / "s_lines.hyper")) as conn:
        rows = sorted(conn.execute_list_query(
            f"SELECT realm_id, txn_id, line_index, amount FROM {TableName('Extract', 'Extract')}"), key=repr)
    with sqlite3.connect(out / "audit.sqlite") as db:
        audit = db.execute("SELECT record_key, operation, line FROM audit_records ORDER BY id").fetchall()
        counts = db.execute("SELECT inserted, updated, deleted FROM audit_run_streams ORDER BY rowid").fetchall()
    return rows, audit, counts


def test_a_line_stream_loads_and_audits_the_same_either_way(tmp_path, monkeypatch) -> None:
    covered = _spy(monkeypatch)
    arrow = _load_twice(tmp_path, 0)
    assert covered and all(covered)
    per_record = _load_twice(tmp_path, 10**9)
    assert arrow == per_record
    operations = {op for _key, op, _line in arrow[1]}
    assert {"parent_delete", "insert", "update", "delete"} <= operations
