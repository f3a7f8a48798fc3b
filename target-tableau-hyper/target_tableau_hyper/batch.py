"""One stream's batch of decoded records → the staged rows to load (Arrow → a staged file).

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
import functools
import re
import typing as t
from dataclasses import dataclass, field
from operator import attrgetter

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

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
    audit_keys: t.Any  # per record: JSON array text of the key (parent key for P); list or Arrow array; [] unaudited
    dropped: list[bool] = field(default_factory=list)  # True if dropped by parent tombstone
    full_table: pa.Table | None = None  # every record's columns (before dedup), for the audit
    source_text: dict = field(default_factory=dict)  # column → original text (date-times)


class Batch:
    """Decoded records of one stream waiting to be drained."""

    #: from this many records a batch with deletes or tombstones is classified in Arrow: its
    #: kernels and joins cost ~3 ms a batch, the record-by-record loop ~5-10 µs a record
    #: (measured crossover 300-1,000 records of a line stream)
    VECTORIZED_MIN_RECORDS = 1000

    def __init__(self, model: StreamModel) -> None:
        self.model = model
        # decoded records, and runs of raw RECORD lines (bytes, each line ending in a newline),
        # in message order
        self.rows: list[t.Any] = []
        self.lines: list[int] = []  # input line number of every record, in message order
        self.n = 0
        self.n_raw = 0
        self._key_tuples: list[tuple] | None = None  # set by `_classify`
        self.plan = model.flattened  # flatten.FlattenPlan of the raw runs (set when they arrive)

    def __len__(self) -> int:
        return self.n

    def add(self, row: t.Any, line: int) -> None:
        self.rows.append(row)
        self.lines.append(line)
        self.n += 1

    def add_raw(self, raw_line: bytes, line: int) -> None:
        """A whole RECORD line, parsed later by Arrow's JSON reader (hot path)."""
        self.add_run(raw_line if raw_line.endswith(b"\n") else raw_line + b"\n", line, 1)

    def add_run(self, run: bytes | memoryview, first_line: int, count: int) -> None:
        """`count` consecutive RECORD lines (input lines first_line…), newline-terminated
        (bytes, or a view of the reader's chunk: copied here)."""
        rows = self.rows
        if self.model.flattened is not None:
            rows.append(bytes(run))  # flatten.py reads the runs one by one
        elif rows and type(rows[-1]) is bytearray:
            # Consecutive runs grow one buffer: the text is copied once (from the reader's
            # chunk) and Arrow parses it in place at drain, with no join of the runs.
            rows[-1] += run
        else:
            rows.append(bytearray(run))
        self.lines.extend(range(first_line, first_line + count))
        self.n += count
        self.n_raw += count
        self.plan = self.model.flattened

    # --- building the Arrow table ---------------------------------------------------------
    def _build(self, columns: t.Sequence[Column], metadata: dict | None) -> tuple[pa.Table, dict]:
        """All records as an Arrow table (+ the original text of date-time columns)."""
        plan = self.plan
        if plan is not None:  # raw nested records: the plan's Arrow path, never the model's
            if self.n_raw and self.n_raw == self.n and plan.arrow_line_schema is not None:
                try:
                    built = plan.arrow_table(self.rows, self.n, columns, metadata)
                except Exception:  # noqa: BLE001 - any doubt: decoded per record below, exactly
                    pass
                else:
                    self.rows = []
                    return built
        elif self.n_raw and self.n_raw == self.n and self.model.arrow_line_schema is not None:
            try:
                built = self._arrow_from_json(columns, metadata)
            except (pa.ArrowException, ValueError, OverflowError):
                pass  # any doubt: the msgspec path below validates each record exactly
            else:
                self.rows = []  # the raw text is no longer needed (memory)
                return built
        if self.n_raw:
            self._decode_raw()
        return self._arrow(columns, metadata), {}

    def _arrow_from_json(self, columns: t.Sequence[Column], metadata: dict | None) -> tuple[pa.Table, dict]:
        model = self.model
        options = pa_json.ParseOptions(
            explicit_schema=model.arrow_line_schema, unexpected_field_behavior="ignore"
        )
        # One read over the batch's whole text (add_run keeps it in one buffer): Arrow splits it
        # in 1 MiB blocks parsed on its threads. Measured ~15% less CPU than one read per 1 MiB
        # piece (per-read setup and concat).
        if len(self.rows) > 1:
            self.rows = [b"".join(self.rows)]
        read = pa_json.read_json(
            pa.BufferReader(self.rows[0]),
            read_options=pa_json.ReadOptions(block_size=1 << 20),
            parse_options=options,
        )
        if read.num_rows != self.n:
            raise ValueError("row count mismatch")
        if pc.any(pc.not_equal(read.column("type"), "RECORD")).as_py() or pc.any(
            pc.not_equal(read.column("stream"), model.stream)
        ).as_py():
            raise ValueError("not a RECORD of this stream")
        record = read.column("record").combine_chunks()
        if record.null_count:
            raise ValueError("null record")
        fields = dict(zip([f.name for f in record.type], record.flatten()))
        arrays, names, source_text = [], [], {}
        n = self.n
        for col in columns:
            arr = fields.get(col.name)
            if arr is None:
                value = (metadata or {}).get(col.name)
                arr = pa.array([value] * n, type=col.arrow_type)
            elif col.kind == "timestamptz":
                source_text[col.name] = arr
                arr = pc.cast(arr, col.arrow_type)
            elif col.kind == "date":
                arr = pc.cast(arr, col.arrow_type)
            arrays.append(arr)
            names.append(col.name)
        return pa.Table.from_arrays(arrays, names=names), source_text

    def _decode_raw(self) -> None:
        """Every raw run → decoded records (msgspec, exact errors with the line number)."""
        from target_tableau_hyper.reader import record_error

        plan = self.plan
        if plan is not None:
            self._decode_raw_flattened(plan)
            return
        decode = self.model.line_decoder.decode
        stream = self.model.stream
        lines = self.lines
        decoded: list[t.Any] = []
        for item in self.rows:
            if not isinstance(item, (bytes, bytearray)):
                decoded.append(item)
                continue
            for raw in bytes(item).split(b"\n")[:-1]:
                line = lines[len(decoded)]
                try:
                    msg = decode(raw)
                except msgspec.ValidationError as exc:
                    raise record_error(exc, stream, line) from None
                except msgspec.DecodeError as exc:
                    raise InputError(f"malformed JSON ({exc})", stream=stream, line=line) from None
                if msg.record is None:
                    raise InputError("RECORD message needs 'record'", stream=stream, line=line)
                decoded.append(msg.record)
        self.rows = decoded
        self.n_raw = 0

    def _decode_raw_flattened(self, plan: t.Any) -> None:
        """Raw runs of a flattened stream → flat rows (SDK mapper per odd record)."""
        stream = self.model.stream
        lines = self.lines
        decoded: list[t.Any] = []
        for item in self.rows:
            if not isinstance(item, (bytes, bytearray)):
                decoded.append(item)
                continue
            for raw in bytes(item).split(b"\n")[:-1]:
                line = lines[len(decoded)]
                try:
                    msg = plan.decode_line(raw, line)
                except msgspec.DecodeError as exc:
                    raise InputError(f"malformed JSON ({exc})", stream=stream, line=line) from None
                if msg.record is None:
                    raise InputError("RECORD message needs 'record'", stream=stream, line=line)
                decoded.append(msg.record)
        self.rows = decoded
        self.n_raw = 0

    # --- classification --------------------------------------------------------------
    def prepare(
        self, columns: t.Sequence[Column], *, keyed: bool, metadata: dict | None = None, audited: bool = True
    ) -> PreparedBatch:
        """Stage the batch. Common case (no delete, no null key, unique keys) is all-vectorized.
        `audited=False` (no audit trail): the per-record audit keys are not built."""
        model = self.model
        n = self.n
        keys = model.key_properties
        staged = list(columns)
        if not any(c.name == DELETED_AT for c in staged):
            staged.append(Column(DELETED_AT, "timestamptz"))  # staged only, to classify
        table, source_text = self._build(staged, metadata)
        has_deletes = table.column(DELETED_AT).null_count != n
        null_keys = any(table.column(k).null_count for k in keys)
        simple = not has_deletes and not null_keys
        if simple and keyed and keys:
            simple = table.group_by(keys).aggregate([]).num_rows == n
        if simple:
            ops = [OP_UPSERT] * n
            kept = [True] * n
            dropped = [False] * n
            audit_keys = self._audit_keys_vectorized(table, keys) if audited else []
        else:
            fast = None
            if n >= self.VECTORIZED_MIN_RECORDS:
                fast = self._classify_vectorized(table, keyed, audited)
            if fast is None:
                ops, kept, dropped = self._classify(table, keyed)
                audit_keys = None
            else:
                ops, kept, dropped, audit_keys = fast
        if audit_keys is None:
            audit_keys = self._audit_keys(ops, table) if audited else []
        full_table = table
        table = table.append_column(SEQ_COLUMN, pa.array(self.lines, type=pa.int64()))
        table = table.append_column(
            OP_COLUMN, pa.repeat(pa.scalar(OP_UPSERT), n) if simple else pa.array(ops, type=pa.string())
        )
        if not all(kept):
            table = table.filter(pa.array(kept, type=pa.bool_()))
        return PreparedBatch(
            table=table,
            staged_columns=[c.name for c in staged],
            n_records=n,
            seqs=self.lines,
            ops=ops,
            kept=kept,
            audit_keys=audit_keys,
            dropped=dropped,
            full_table=full_table,
            source_text=source_text,
        )

    def _classify(self, table: pa.Table, keyed: bool) -> tuple[list[str], list[bool], list[bool]]:
        """Per record op (U/D/P); last version per key; lines before a later parent tombstone."""
        model = self.model
        lines = self.lines
        n = table.num_rows
        keys = model.key_properties
        deleted_vals = table.column(DELETED_AT).to_pylist()
        key_tuples: list[tuple] = (
            list(zip(*(table.column(k).to_pylist() for k in keys))) if keys else [()] * n
        )
        parent_idx = [keys.index(p) for p in model.parent_key]
        ops = [OP_UPSERT] * n
        for i in range(n):
            is_delete = deleted_vals[i] is not None
            ktuple = key_tuples[i]
            if None in ktuple:
                if is_delete and parent_idx and all(ktuple[j] is not None for j in parent_idx):
                    ops[i] = OP_PARENT
                    continue
                null = next(k for k, v in zip(keys, ktuple) if v is None)
                raise MissingKeyError(
                    "key property is missing or null (only a parent tombstone with "
                    "_sdc_deleted_at may leave non-parent key properties null)",
                    stream=model.stream, line=lines[i], field=null,
                )
            if is_delete:
                ops[i] = OP_DELETE
        self._key_tuples = key_tuples
        kept = [True] * n
        dropped = [False] * n
        if not (keyed and keys):
            return ops, kept, dropped
        last: dict[tuple, int] = {}
        last_tomb: dict[tuple, int] = {}
        for i in range(n):
            if ops[i] == OP_PARENT:
                last_tomb[tuple(key_tuples[i][j] for j in parent_idx)] = i
            else:
                last[key_tuples[i]] = i
        for i in range(n):
            if ops[i] == OP_PARENT:
                kept[i] = last_tomb[tuple(key_tuples[i][j] for j in parent_idx)] == i
                continue
            if last[key_tuples[i]] != i:
                kept[i] = False
            if last_tomb and last_tomb.get(tuple(key_tuples[i][j] for j in parent_idx), -1) > i:
                kept[i] = False
                dropped[i] = True
        return ops, kept, dropped

    def _classify_vectorized(
        self, table: pa.Table, keyed: bool, audited: bool
    ) -> tuple[list[str], list[bool], list[bool], t.Any] | None:
        """`_classify` of the common batch with deletes or parent tombstones, in Arrow (a line
        stream's batches always hold tombstones: the tap sends one before each parent's lines).
        Covers: every null key is a parent tombstone's, and for keyed loads every key once among
        the batch's other records, every tombstoned parent once, no line before its parent's
        tombstone. Returns (ops, kept, dropped, audit keys or None), or None for any other batch
        (then `_classify` decides record by record and names the line of an error)."""
        model = self.model
        keys = model.key_properties
        parent = model.parent_key
        if not keys:
            return None
        n = table.num_rows
        try:
            deleted = pc.is_valid(table.column(DELETED_AT))
            null_any = functools.reduce(pc.or_, [pc.is_null(table.column(k)) for k in keys])
            is_p = None
            if pc.any(null_any).as_py():
                if not parent:
                    return None  # a missing key: the error names its line
                parent_ok = functools.reduce(pc.and_, [pc.is_valid(table.column(k)) for k in parent])
                is_p = pc.and_(pc.and_(null_any, deleted), parent_ok)
                if pc.any(pc.and_(null_any, pc.invert(is_p))).as_py():
                    return None
            is_d = pc.and_(deleted, pc.invert(null_any))
            if is_p is None:
                ops_arr = pc.if_else(is_d, OP_DELETE, OP_UPSERT)
            else:
                ops_arr = pc.if_else(is_p, OP_PARENT, pc.if_else(is_d, OP_DELETE, OP_UPSERT))
            if keyed:
                rows = table.select(keys)
                if is_p is not None:
                    not_p = pc.invert(is_p)
                    rows = rows.filter(not_p)
                    tombs = table.select(parent).filter(is_p)
                    if tombs.group_by(parent).aggregate([]).num_rows != tombs.num_rows:
                        return None  # a parent tombstoned twice
                    # a line before its parent's tombstone is dropped: record by record
                    before = rows.select(parent).append_column("_i", pc.indices_nonzero(not_p)).join(
                        tombs.append_column("_t", pc.indices_nonzero(is_p)), keys=parent, join_type="inner"
                    )
                    if before.num_rows and pc.any(pc.less(before.column("_i"), before.column("_t"))).as_py():
                        return None
                if rows.group_by(keys).aggregate([]).num_rows != rows.num_rows:
                    return None  # a key twice: the last version wins, record by record
            audit_keys = None
            if audited:
                full = self._audit_keys_vectorized(table, keys)
                if full is not None and is_p is not None:
                    of_parent = self._audit_keys_vectorized(table, parent)
                    full = None if of_parent is None else pc.if_else(is_p, of_parent, full)
                audit_keys = full
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid):
            return None  # a key type Arrow's kernels do not take: record by record
        return ops_arr.to_pylist(), [True] * n, [False] * n, audit_keys

    def _audit_keys(self, ops: list[str], table: pa.Table) -> list[str]:
        """Per record JSON text of its key (of its parent key for a tombstone), by msgspec."""
        enc = _json.encode
        keys = self.model.key_properties
        parent_idx = [keys.index(p) for p in self.model.parent_key]
        key_tuples = self._key_tuples
        if key_tuples is None:  # classified without `_classify`
            key_tuples = list(zip(*(table.column(k).to_pylist() for k in keys))) if keys else [()] * len(ops)
        out = []
        for ktuple, op in zip(key_tuples, ops):
            if op == OP_PARENT:
                ktuple = tuple(ktuple[j] for j in parent_idx)
            out.append(enc(ktuple).decode())
        return out

    def _audit_keys_vectorized(self, table: pa.Table, keys: list[str]) -> t.Any:
        """JSON array text of each row's key, built by Arrow (string/integer keys) in one
        element-wise join (`["` a `","` b `",` c `]`); strings are escaped only when one holds a
        quote or backslash (measured ~2x less CPU than joining part by part). A key column with
        the same value on every row (e.g. `realm_id`) is written into the literal text between
        the pieces (encoded by msgspec, as the per-record path does): Arrow's join costs ~2x per
        array piece what it does per literal (0.19 -> 0.11 us a record for a line stream's keys)."""
        if not keys:
            return ["[]"] * self.n
        columns = [table.column(k) for k in keys]
        constants = [_constant_key(col) for col in columns]
        if all(c is not None for c in constants):
            constants[-1] = None  # at least one array piece: the result stays one value per row
        pieces: list[t.Any] = []
        pending = "["  # literal text before the next key value
        for i, (col, constant) in enumerate(zip(columns, constants)):
            if i:
                pending += ","
            if constant is not None:
                pending += constant
            elif pa.types.is_string(col.type):
                special = _special_bytes(col)
                if special:
                    if special == _CONTROL_FOUND:
                        return None  # control characters: msgspec escapes them
                    col = pc.replace_substring(pc.replace_substring(col, "\\", "\\\\"), '"', '\\"')
                pieces += [pending + '"', col]
                pending = '"'
            elif pa.types.is_integer(col.type):
                pieces += [pending, pc.cast(col, pa.string())]
                pending = ""
            else:
                return None
        pieces.append(pending + "]")
        return pc.binary_join_element_wise(*pieces, "")

    # --- Arrow ---------------------------------------------------------------------------
    def _arrow(self, columns: t.Sequence[Column], metadata: dict | None) -> pa.Table:
        model = self.model
        rows, lines = self.rows, self.lines
        arrays = []
        names = []
        for col in columns:
            attr = model.attr(col.name)
            if attr is None:  # _sdc metadata column filled per batch
                value = (metadata or {}).get(col.name)
                values = [value] * len(rows)
            else:
                values = list(map(attrgetter(attr), rows))
            if col.kind == KIND_JSON:
                values = [_to_json_text(v) for v in values]
            elif col.kind == KIND_TEXT and attr is not None and col.name in model.loose_text:
                values = [_to_text(v) for v in values]
            arrays.append(self._array(col, values, lines))
            names.append(col.name)
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


_SPECIAL = re.compile(rb'[\x00-\x1f"\\]')
_CONTROL = re.compile(rb"[\x00-\x1f]")
_CONTROL_FOUND = 2


def _constant_key(column: t.Any) -> str | None:
    """The JSON text (msgspec) of a string or integer key column's value when every row holds
    that same non-null value, else None. First vs last settles most varying columns at once."""
    n = len(column)
    if n < 2 or column.null_count or not (pa.types.is_string(column.type) or pa.types.is_integer(column.type)):
        return None
    first = column[0].as_py()
    if column[n - 1].as_py() != first or not pc.all(pc.equal(column, first)).as_py():
        return None
    return _json.encode(first).decode()


def _special_bytes(column: t.Any) -> int:
    """0: no string of the column needs escaping in JSON; 1: a quote or backslash; 2
    (`_CONTROL_FOUND`): a control character. Scans the values' bytes with `re` (one pass over
    the data buffers, several times faster than Arrow's regex kernels)."""
    found = 0
    for chunk in getattr(column, "chunks", [column]):
        _validity, offsets, data = chunk.buffers()
        if data is None or offsets is None or not len(chunk):
            continue
        ends = memoryview(offsets).cast("q" if pa.types.is_large_string(chunk.type) else "i")
        raw = memoryview(data)[ends[chunk.offset] : ends[chunk.offset + len(chunk)]]
        if _SPECIAL.search(raw):
            if _CONTROL.search(raw):
                return _CONTROL_FOUND
            found = 1
    return found


def _pieces(runs: t.Sequence[bytes], size: int) -> t.Iterator[bytes]:
    """The runs regrouped into pieces of about `size` bytes or more, in order."""
    group: list[bytes] = []
    length = 0
    for run in runs:
        group.append(run)
        length += len(run)
        if length >= size:
            yield group[0] if len(group) == 1 else b"".join(group)
            group, length = [], 0
    if group:
        yield group[0] if len(group) == 1 else b"".join(group)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.timezone.utc)
