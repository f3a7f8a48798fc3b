"""One stream's batch of decoded records → the staged rows to load (Arrow → Parquet).

Classifies every record (in message order) as
- `U` upsert/insert row,
- `D` delete of one key (`_sdc_deleted_at` set, all key properties set),
- `P` parent tombstone (stream with `x-parent-key`: parent key set, `_sdc_deleted_at` set,
  some other key property null): deletes every row of that parent;
then, for keyed loads, keeps the last version of each key and drops any line that comes
before a later tombstone of its parent in this batch (parent-scoped replace). Lines after the
tombstone stay. Tombstones are applied before the batch's rows, so a tombstone in this batch
also removes the parent's lines committed by earlier batches.
"""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass, field
from operator import attrgetter

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from target_tableau_hyper.errors import InputError, MissingKeyError
from target_tableau_hyper.hyper_store import OP_COLUMN, OP_DELETE, OP_PARENT, OP_UPSERT, SEQ_COLUMN
from target_tableau_hyper.records import DELETED_AT, StreamModel
from target_tableau_hyper.types import KIND_JSON, KIND_TEXT, Column

UNSET = msgspec.UNSET
_json = msgspec.json.Encoder(decimal_format="number")

# Audit operations per record
AUDIT_INSERT = "insert"
AUDIT_UPDATE = "update"
AUDIT_DELETE = "delete"
AUDIT_PARENT_DELETE = "parent_delete"
AUDIT_APPEND = "append"
AUDIT_SUPERSEDED = "superseded"  # a later record of the same key in the same batch won
AUDIT_DROPPED = "dropped_by_parent_tombstone"  # a line before its parent's tombstone


def _to_json_text(value: t.Any) -> t.Any:
    if value is None or value is UNSET:
        return None
    return _json.encode(value).decode()


def _to_text(value: t.Any) -> t.Any:
    if value is None or value is UNSET or isinstance(value, str):
        return None if value is UNSET else value
    return _json.encode(value).decode()


@dataclass
class PreparedBatch:
    table: pa.Table  # staged rows incl. SEQ/OP columns, in message order
    staged_columns: list[str]  # table columns present in `table`
    n_records: int
    seqs: list[int]  # per record (message order): line number = sequence
    ops: list[str]  # per record: U/D/P
    kept: list[bool]  # per record: staged (True) or superseded/dropped (False)
    audit_keys: list[str]  # per record: JSON array of the key (parent key for P)
    dropped: list[bool] = field(default_factory=list)  # True if dropped by parent tombstone


class Batch:
    """Decoded records of one stream waiting to be drained."""

    def __init__(self, model: StreamModel) -> None:
        self.model = model
        self.rows: list[t.Any] = []
        self.lines: list[int] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: t.Any, line: int) -> None:
        self.rows.append(row)
        self.lines.append(line)

    # --- classification --------------------------------------------------------------
    def prepare(self, columns: t.Sequence[Column], *, keyed: bool, metadata: dict | None = None) -> PreparedBatch:
        model = self.model
        rows, lines = self.rows, self.lines
        n = len(rows)
        keys = model.key_properties
        deleted_vals = list(map(attrgetter(model.attr(DELETED_AT)), rows))
        has_deletes = (deleted_vals.count(None) + deleted_vals.count(UNSET)) != n
        key_tuples: list[tuple] = list(map(model.getter(keys), rows)) if keys else [()] * n
        ops = [OP_UPSERT] * n
        parent_idx = [keys.index(p) for p in model.parent_key]
        bad = [i for i, k in enumerate(key_tuples) if None in k or UNSET in k] if keys else []
        if has_deletes or bad:
            bad_set = set(bad)
            for i in range(n):
                deleted = deleted_vals[i]
                is_delete = deleted is not None and deleted is not UNSET
                if i in bad_set:
                    ktuple = key_tuples[i]
                    missing = [k for k, v in zip(keys, ktuple) if v is UNSET]
                    if missing:
                        raise MissingKeyError(
                            "record is missing key property", stream=model.stream,
                            line=lines[i], field=missing[0],
                        )
                    parent_ok = parent_idx and all(ktuple[j] is not None for j in parent_idx)
                    if is_delete and parent_ok:
                        ops[i] = OP_PARENT
                        continue
                    null = next(k for k, v in zip(keys, ktuple) if v is None)
                    raise InputError(
                        "key property is null (only a parent tombstone with "
                        "_sdc_deleted_at may leave non-parent key properties null)",
                        stream=model.stream, line=lines[i], field=null,
                    )
                if is_delete:
                    ops[i] = OP_DELETE
        kept = [True] * n
        dropped = [False] * n
        if keyed and keys:
            last: dict[tuple, int] = dict(zip(key_tuples, range(n)))
            if len(last) != n or has_deletes:
                last_tomb: dict[tuple, int] = {}
                if has_deletes:
                    for i in range(n):
                        if ops[i] == OP_PARENT:
                            last_tomb[tuple(key_tuples[i][j] for j in parent_idx)] = i
                for i in range(n):
                    op = ops[i]
                    if op == OP_PARENT:
                        kept[i] = last_tomb[tuple(key_tuples[i][j] for j in parent_idx)] == i
                        continue
                    if last.get(key_tuples[i]) != i:
                        kept[i] = False
                    if last_tomb:
                        tomb = last_tomb.get(tuple(key_tuples[i][j] for j in parent_idx), -1)
                        if tomb > i:
                            kept[i] = False
                            dropped[i] = True
        audit_keys = self._audit_keys(key_tuples, ops, parent_idx)
        table = self._arrow(columns, kept, ops, metadata)
        return PreparedBatch(
            table=table,
            staged_columns=[c.name for c in columns],
            n_records=n,
            seqs=lines,
            ops=ops,
            kept=kept,
            audit_keys=audit_keys,
            dropped=dropped,
        )

    @staticmethod
    def _audit_keys(key_tuples: list[tuple], ops: list[str], parent_idx: list[int]) -> list[str]:
        enc = _json.encode
        out = []
        for ktuple, op in zip(key_tuples, ops):
            if op == OP_PARENT:
                ktuple = tuple(ktuple[j] for j in parent_idx)
            out.append(enc(ktuple).decode())
        return out

    # --- Arrow ---------------------------------------------------------------------------
    def _arrow(self, columns: t.Sequence[Column], kept: list[bool], ops: list[str], metadata: dict | None) -> pa.Table:
        model = self.model
        if all(kept):
            rows, lines, row_ops = self.rows, self.lines, ops
        else:
            idx = [i for i, k in enumerate(kept) if k]
            rows = [self.rows[i] for i in idx]
            lines = [self.lines[i] for i in idx]
            row_ops = [ops[i] for i in idx]
        arrays = []
        names = []
        for col in columns:
            attr = model.attr(col.name)
            if attr is None:  # _sdc metadata column filled per batch
                value = (metadata or {}).get(col.name)
                values = [value] * len(rows)
            else:
                values = list(map(attrgetter(attr), rows))
                if col.name in model.key_properties or col.name == DELETED_AT:
                    values = [None if v is UNSET else v for v in values]
            if col.kind == KIND_JSON:
                values = [_to_json_text(v) for v in values]
            elif col.kind == KIND_TEXT and attr is not None and col.name in model.loose_text:
                values = [_to_text(v) for v in values]
            arrays.append(self._array(col, values, lines))
            names.append(col.name)
        arrays.append(pa.array(lines, type=pa.int64()))
        names.append(SEQ_COLUMN)
        arrays.append(pa.array(row_ops, type=pa.string()))
        names.append(OP_COLUMN)
        return pa.Table.from_arrays(arrays, names=names)

    def _array(self, col: Column, values: list, lines: list[int]) -> pa.Array:
        try:
            return pa.array(values, type=col.arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            # Slow path only on error: find the first offending value for the message.
            for value, line in zip(values, lines):
                try:
                    pa.array([value], type=col.arrow_type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as one:
                    raise InputError(
                        f"value {value!r} does not fit column type {col.sql_type}: {one}",
                        stream=self.model.stream, line=line, field=col.name,
                    ) from None
            raise InputError(f"cannot convert column: {exc}", stream=self.model.stream, field=col.name) from exc


def write_parquet(table: pa.Table, path: str) -> None:
    # Uncompressed: the file lives for one COPY; compression would only cost CPU.
    pq.write_table(table, path, compression="none", use_dictionary=False, write_statistics=False)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.timezone.utc)
