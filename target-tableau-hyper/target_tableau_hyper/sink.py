"""The stream sink: buffers decoded records and loads each batch in one Hyper transaction."""

from __future__ import annotations

import os
import typing as t
import uuid
from operator import attrgetter
from pathlib import Path

import msgspec
from singer_sdk.sinks import BatchSink

from target_tableau_hyper import batch as batch_mod
from target_tableau_hyper.batch import Batch, write_parquet
from target_tableau_hyper.errors import MissingKeyError
from target_tableau_hyper.hyper_store import EXTRACT_SCHEMA, OP_DELETE, OP_PARENT, OP_UPSERT, HyperTable
from target_tableau_hyper.records import DELETED_AT, StreamModel
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
        self._key_getter = self.model.getter(self.key_properties) if self.key_properties else None
        self._updated_getter = self._source_getter(("updated_at", "MetaData__LastUpdatedTime", "MetaData"))
        self._sync_getter = self._source_getter(("SyncToken", "MetaData__SyncToken"))
        self._seq = 0

    def get_validator(self) -> None:  # noqa: D102 - validation is done by the compiled model
        return None

    def _source_getter(self, names: t.Sequence[str]) -> t.Callable | None:
        for name in names:
            attr = self.model.attr(name)
            if attr:
                get = attrgetter(attr)
                if name == "MetaData":
                    return lambda r: (get(r) or {}).get("LastUpdatedTime") if isinstance(get(r), dict) else None
                return get
        return None

    # --- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        self.table.ensure(self.columns)
        self.hyper_target.register_stream(self.stream_name, self.hyper_path, self.table_label)

    def clean_up(self) -> None:
        if self.load_method == "overwrite" and self.stream_name not in self.hyper_target.overwritten:
            # A stream that sent no record in an overwrite run ends up empty.
            self.process_batch({})
        super().clean_up()

    # --- records -----------------------------------------------------------------------------
    def add_row(self, row: t.Any, line: int) -> None:
        if self._key_getter is not None and UNSET in self._key_getter(row):
            missing = [k for k, v in zip(self.key_properties, self._key_getter(row)) if v is UNSET]
            raise MissingKeyError("record is missing key property", stream=self.stream_name, line=line, field=missing[0])
        self._batch.add(row, line)
        self.tally_record_read()

    def process_record(self, record: dict, context: dict) -> None:
        """SDK path (records handed over as dicts): validate, decode, buffer."""
        self._seq -= 1
        self.add_row(self.model.convert(record, None), self._seq)

    def process_batch(self, context: dict) -> None:
        current, self._batch = self._batch, Batch(self.model)
        truncate = self.load_method == "overwrite" and self.stream_name not in self.hyper_target.overwritten
        if not len(current) and not truncate:
            return
        target = self.hyper_target
        batch_started = batch_mod.now_utc()
        metadata = {
            "_sdc_batched_at": batch_started,
            "_sdc_received_at": batch_started,
            "_sdc_sync_started_at": self.sync_started_at,
        }
        prepared = current.prepare(self.columns, keyed=self.keyed, metadata=metadata)
        staging = Path(target.staging_dir)
        staging.mkdir(parents=True, exist_ok=True)
        parquet_path = str(staging / f"{self.stream_name}-{uuid.uuid4().hex}.parquet")
        write_parquet(prepared.table, parquet_path)
        try:
            result = self.table.apply(
                parquet_path, prepared.staged_columns, load_method=self.load_method if self.keyed else "append-only", truncate=truncate
            )
        finally:
            os.remove(parquet_path)
        if truncate:
            target.overwritten.add(self.stream_name)
        self.record_counter_metric.increment(prepared.n_records)
        self._audit(current, prepared, result)

    def _audit(self, current: Batch, prepared: batch_mod.PreparedBatch, result: t.Any) -> None:
        n = prepared.n_records
        existed = result.existed_seqs
        ops_out: list[str] = []
        inserted = updated = deleted_keys = 0
        for seq, op, kept, dropped in zip(prepared.seqs, prepared.ops, prepared.kept, prepared.dropped):
            if not self.keyed:
                ops_out.append(batch_mod.AUDIT_APPEND)
            elif op == OP_PARENT:
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
        if not self.keyed:
            inserted = result.rows_inserted
        deleted = deleted_keys + result.parent_rows_deleted
        audit = self.hyper_target.audit
        if audit is None or not n:
            self.hyper_target.add_counts(self.stream_name, inserted, updated, deleted)
            return
        rows_src = current.rows
        updated_at = (
            [_text(v) for v in map(self._updated_getter, rows_src)] if self._updated_getter else [None] * n
        )
        sync = [_text(v) for v in map(self._sync_getter, rows_src)] if self._sync_getter else [None] * n
        run_id = self.hyper_target.run_id
        batch_id = uuid.uuid4().hex
        stream = self.stream_name
        audit.record_batch(
            batch_id=batch_id,
            stream=stream,
            n_records=n,
            inserted=inserted,
            updated=updated,
            deleted=deleted,
            first_line=min(prepared.seqs),
            last_line=max(prepared.seqs),
            rows=zip(
                [run_id] * n, [batch_id] * n, [stream] * n, prepared.audit_keys, ops_out,
                updated_at, sync, prepared.seqs,
            ),
        )
        self.hyper_target.add_counts(stream, inserted, updated, deleted)


def _text(value: t.Any) -> str | None:
    if value is None or value is UNSET:
        return None
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
