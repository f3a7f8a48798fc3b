"""The stream sink: buffers decoded records and loads each batch in one Hyper transaction."""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import time
import typing as t
import uuid
from operator import attrgetter
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from singer_sdk.sinks import BatchSink

from target_tableau_hyper import audit_writer
from target_tableau_hyper import batch as batch_mod
from target_tableau_hyper.batch import Batch
from target_tableau_hyper.hyper_store import (
    EXTRACT_SCHEMA,
    OP_DELETE,
    OP_PARENT,
    OP_UPSERT,
    HyperTable,
    StagedFile,
    remove_staged,
    stage_file,
)
from target_tableau_hyper.records import StreamModel
from target_tableau_hyper.types import KIND_BIGINT, KIND_TIMESTAMPTZ, Column

if t.TYPE_CHECKING:
    from target_tableau_hyper.target import TargetTableauHyper

UNSET = msgspec.UNSET
_METADATA_COLUMNS = (
    Column("_sdc_batched_at", KIND_TIMESTAMPTZ),
    Column("_sdc_received_at", KIND_TIMESTAMPTZ),
    Column("_sdc_sync_started_at", KIND_BIGINT),
)


class HyperSink(BatchSink):
    """Loads one stream into `"Extract"."Extract"` of `<output_dir>/<stream>.hyper`
    (or `"Extract"."<stream>"` of the multi-table file)."""

    MAX_SIZE_DEFAULT = 100_000

    def __init__(self, target: TargetTableauHyper, stream_name: str, schema: dict, key_properties: t.Sequence[str] | None) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.hyper_target = target
        cfg = target.config
        self.load_method: str = cfg.get("load_method") or (
            "upsert" if self.key_properties else "append-only"
        )
        self.hard_delete: bool = cfg.get("hard_delete", True)
        keep_deleted_at = (not self.hard_delete) or self.load_method == "append-only"
        overrides = (cfg.get("numeric_overrides") or {}).get(stream_name) or {}
        self.model = StreamModel.build(
            stream_name,
            self.original_schema,
            self.key_properties,
            validate=cfg.get("validate_records", True),
            keep_deleted_at=keep_deleted_at,
            numeric_overrides=overrides,
            default_precision=cfg.get("default_numeric_precision", 18),
            default_scale=cfg.get("default_numeric_scale", 6),
        )
        self.columns: list[Column] = list(self.model.columns)
        if self.include_sdc_metadata_properties:
            names = {c.name for c in self.columns}
            self.columns += [c for c in _METADATA_COLUMNS if c.name not in names]
        self.keyed = bool(self.key_properties) and self.load_method in ("upsert", "overwrite")
        self.hyper_path, table_name = target.hyper_location(stream_name)
        self.table = HyperTable(
            target.engine,
            self.hyper_path,
            table_name,
            stream=stream_name,
            key_properties=self.key_properties,
            parent_key=self.model.parent_key,
            hard_delete=self.hard_delete,
        )
        self.table_label = f'"{EXTRACT_SCHEMA}"."{table_name}"'
        self._batch = Batch(self.model)
        self._updated_source = self._source_name(("updated_at", "MetaData__LastUpdatedTime", "MetaData"))
        self._sync_source = self._source_name(("SyncToken",))
        self._seq = 0

    def get_validator(self) -> None:  # noqa: D102 - validation is done by the compiled model
        return None

    def _source_name(self, names: t.Sequence[str]) -> str | None:
        return next((n for n in names if self.model.attr(n)), None)

    # --- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        target = self.hyper_target
        opening: threading.Thread | None = None
        if getattr(target, "_audit", None) is None and target.config.get("audit_enabled", True):
            # The run's first sink: the audit DB is opened (tables, abandoned runs, this run's
            # row) while hyperd starts and the table is created (both mostly wait on I/O or
            # another process). `target.engine` is built first, here, so both threads use it.
            target.engine  # noqa: B018 - builds the HyperEngine object (hyperd starts lazily)
            failure: list[BaseException] = []

            def open_audit() -> None:
                try:
                    target.audit  # noqa: B018 - opens the AuditLog once
                except BaseException as exc:  # noqa: BLE001 - re-raised on this thread below
                    failure.append(exc)

            opening = threading.Thread(target=open_audit, name="audit-open")
            opening.start()
        try:
            self.table.ensure(self.columns)
        finally:
            if opening is not None:
                opening.join()
        if opening is not None and failure:
            raise failure[0]
        target.register_stream(self.stream_name, self.hyper_path, self.table_label)

    def clean_up(self) -> None:
        if self.load_method == "overwrite" and self.stream_name not in self.hyper_target.overwritten:
            # A stream that sent no record in an overwrite run ends up empty.
            self.process_batch({})
        super().clean_up()

    # --- records -----------------------------------------------------------------------------
    def add_row(self, row: t.Any, line: int) -> None:
        self._batch.add(row, line)
        self._batch_records_read += 1  # = tally_record_read(), inlined (hot path)
        self._total_records_read += 1

    def add_raw(self, line: bytes, number: int) -> None:
        self._batch.add_raw(line, number)
        self._batch_records_read += 1
        self._total_records_read += 1

    def add_run(self, run: bytes, first_line: int, count: int) -> None:
        """`count` consecutive raw RECORD lines of this stream (reader hot path)."""
        self._batch.add_run(run, first_line, count)
        self._batch_records_read += count
        self._total_records_read += count

    def process_record(self, record: dict, context: dict) -> None:
        """SDK path (records handed over as dicts): validate, decode, buffer."""
        self._seq -= 1
        self.add_row(self.model.convert(record, None), self._seq)

    def process_batch_files(self, encoding: t.Any, files: t.Sequence[str]) -> None:
        """Records of a Singer BATCH message (files written by the tap)."""
        from target_tableau_hyper.batch_files import process_batch_files

        process_batch_files(self, encoding, files)

    def process_batch(self, context: dict) -> None:
        """Hand the batch to the target's loader thread (FIFO); STATE waits for it."""
        current, self._batch = self._batch, Batch(self.model)
        target = self.hyper_target
        truncate = self.load_method == "overwrite" and self.stream_name not in target.overwritten
        if not len(current) and not truncate:
            return
        if truncate:
            target.overwritten.add(self.stream_name)
        self.record_counter_metric.increment(len(current))
        # Staging (Arrow parse, classify, staged file; one thread, FIFO) of batch N+1 runs while
        # batch N is in Hyper. The load waits for its own staging; STATE waits for the loads
        # (target.wait_for_loads), so the order and the barrier are unchanged.
        staged = target.stager.submit(self._stage, current)
        setups = target.take_setups(self.hyper_path)  # this file's table set-ups not run yet
        target.submit_load(lambda: self._load(current, staged, truncate, setups))

    def _stage(self, current: Batch) -> tuple[batch_mod.PreparedBatch, StagedFile]:
        """Batch → staged rows in a file Hyper reads (staging thread). Returns (prepared, file)."""
        batch_started = batch_mod.now_utc()
        metadata = {
            "_sdc_batched_at": batch_started,
            "_sdc_received_at": batch_started,
            "_sdc_sync_started_at": self.sync_started_at,
        }
        prepared = current.prepare(
            self.columns, keyed=self.keyed, metadata=metadata,
            audited=self.hyper_target.config.get("audit_enabled", True),
        )
        staged = stage_file(prepared.table, Path(self.hyper_target.staging_dir))
        prepared.table = None  # the staged file holds it now (memory)
        return prepared, staged

    def _load(self, current: Batch, staged: concurrent.futures.Future, truncate: bool, setups: list | None = None) -> None:
        started = time.perf_counter()
        setups = setups if setups is not None else []
        try:
            self._load_batch(current, staged, truncate, setups)
        except BaseException:
            if setups:  # the batch failed before its attach (e.g. bad input): set up the table all the same
                try:
                    self.hyper_target.engine.run_setups(self.hyper_path, setups)
                except Exception:  # noqa: BLE001 - the batch's failure is the one reported
                    self.logger.warning("table set-up after a failed batch failed too", exc_info=True)
            raise
        if setups:  # a load that never attached (not expected): the set-ups still run, in order
            self.hyper_target.engine.run_setups(self.hyper_path, setups)
        self.logger.info(
            "loaded batch: stream=%s records=%d seconds=%.3f", self.stream_name, len(current),
            time.perf_counter() - started,
        )

    def _load_batch(self, current: Batch, staged: concurrent.futures.Future, truncate: bool, setups: list) -> None:
        prepared, staged_file = staged.result()  # re-raises a staging failure (bad input)
        try:
            result = self.table.apply(
                staged_file,
                prepared.staged_columns,
                load_method=self.load_method if self.keyed else "append-only",
                truncate=truncate,
                parent_tombstones=OP_PARENT in prepared.ops,
                setups=setups,  # run first, in the batch's attach (one attach less a file)
            )
        finally:
            remove_staged(staged_file.path)
        self._audit(current, prepared, result)

    def _audit(self, current: Batch, prepared: batch_mod.PreparedBatch, result: t.Any) -> None:
        n = prepared.n_records
        existed = result.existed_seqs
        if not self.keyed:
            ops_out: t.Any = pa.repeat(batch_mod.AUDIT_APPEND, n)
            inserted, updated, deleted_keys = result.rows_inserted, 0, 0
        elif all(prepared.kept) and not existed and prepared.ops.count(OP_UPSERT) == n:
            ops_out = pa.repeat(batch_mod.AUDIT_INSERT, n)
            inserted, updated, deleted_keys = n, 0, 0
        elif n >= Batch.VECTORIZED_MIN_RECORDS and all(prepared.kept):
            # every record staged (a line stream's batch: tombstones, then lines): in Arrow
            ops_out, inserted, updated, deleted_keys = _audit_ops(prepared.ops, prepared.seqs, existed)
        else:
            ops_out = []
            inserted = updated = deleted_keys = 0
            for seq, op, kept, dropped in zip(prepared.seqs, prepared.ops, prepared.kept, prepared.dropped):
                if op == OP_PARENT:
                    ops_out.append(batch_mod.AUDIT_PARENT_DELETE)
                elif not kept:
                    ops_out.append(batch_mod.AUDIT_DROPPED if dropped else batch_mod.AUDIT_SUPERSEDED)
                elif op == OP_DELETE:
                    ops_out.append(batch_mod.AUDIT_DELETE)
                    deleted_keys += seq in existed
                elif seq in existed:
                    ops_out.append(batch_mod.AUDIT_UPDATE)
                    updated += 1
                else:
                    ops_out.append(batch_mod.AUDIT_INSERT)
                    inserted += 1
        deleted = deleted_keys + result.parent_rows_deleted
        target = self.hyper_target
        target.add_counts(self.stream_name, inserted, updated, deleted)
        audit = target.audit
        if audit is None or not n:
            return
        write = functools.partial(
            audit.record_batch,
            batch_id=uuid.uuid4().hex,
            stream=self.stream_name,
            n_records=n,
            inserted=inserted,
            updated=updated,
            deleted=deleted,
            first_line=min(prepared.seqs),
            last_line=max(prepared.seqs),
            columns=(
                prepared.audit_keys,
                ops_out,
                self._source_text(current, prepared, self._updated_source),
                self._source_text(current, prepared, self._sync_source),
                prepared.seqs,
            ),
        )
        # written by the audit thread while the next batch loads; STATE waits for it
        target.audit_writer.submit(lambda: (write(), audit_writer.checkpoint(audit)))

    def _source_text(self, current: Batch, prepared: batch_mod.PreparedBatch, name: str | None) -> t.Any:
        """Per record text of a source column (updated_at / SyncToken), vectorized when staged."""
        n = prepared.n_records
        if name is None:
            return pa.nulls(n, pa.string())
        if name in prepared.source_text:
            return prepared.source_text[name]
        table = prepared.full_table
        if table is not None and name in table.column_names and name != "MetaData":
            col = table.column(name)
            if pa.types.is_timestamp(col.type):
                return pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ")
            return pc.cast(col, pa.string())
        get = attrgetter(self.model.attr(name))
        if name == "MetaData":
            return [_text((v or {}).get("LastUpdatedTime")) if isinstance(v, dict) else None for v in map(get, current.rows)]
        return [_text(v) for v in map(get, current.rows)]


def _audit_ops(ops: list[str], seqs: list[int], existed: set[int]) -> tuple[t.Any, int, int, int]:
    """(per record audit operation, inserted, updated, deleted keys) of a batch whose records
    were all staged: a tombstone is a `parent_delete`, a delete a `delete`, an upsert an
    `update` when its key was in the table (`existed`, by sequence) else an `insert`."""
    op = pa.array(ops, type=pa.string())
    is_parent = pc.equal(op, OP_PARENT)
    is_delete = pc.equal(op, OP_DELETE)
    if existed:
        was = pc.is_in(pa.array(seqs, type=pa.int64()), value_set=pa.array(list(existed), type=pa.int64()))
    else:
        was = pa.repeat(pa.scalar(False), len(ops))
    upsert_op = pc.if_else(was, batch_mod.AUDIT_UPDATE, batch_mod.AUDIT_INSERT)
    out = pc.if_else(is_parent, batch_mod.AUDIT_PARENT_DELETE,
                     pc.if_else(is_delete, batch_mod.AUDIT_DELETE, upsert_op))
    is_upsert = pc.invert(pc.or_(is_parent, is_delete))
    updated = pc.sum(pc.and_(is_upsert, was)).as_py() or 0
    inserted = (pc.sum(is_upsert).as_py() or 0) - updated
    deleted_keys = pc.sum(pc.and_(is_delete, was)).as_py() or 0
    return out, inserted, updated, deleted_keys


def _text(value: t.Any) -> str | None:
    if value is None or value is UNSET:
        return None
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
