"""The production `ChangeSource`: keys from the target's sinks, touched keys from the target core's
audit trail (`target_tableau_hyper/audit.py`, table `audit_records`).

A stream is publishable incrementally only when its sink upserts by key (`load_method` upsert): an
append-only or overwrite load has no per-key history to replay. Keys seen are remembered in
`tableau_stream_keys`, so a stream absent from a run can still have its pending publish retried.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence

import sqlalchemy as sa

from target_tableau_hyper.publishing import audit_tables
from target_tableau_hyper.publishing.changes import ChangeSource, StreamKeys

logger = logging.getLogger(__name__)

CHANGE_OPERATIONS = ("insert", "update", "delete", "parent_delete")


def _sink_for(target: Any, stream: str) -> Any:
    sinks = getattr(target, "_sinks_active", None)
    if isinstance(sinks, dict) and stream in sinks:
        return sinks[stream]
    for sink in getattr(target, "_sinks_to_clear", None) or []:
        if getattr(sink, "stream_name", None) == stream:
            return sink
    return None


def stream_keys_from_sink(sink: Any) -> StreamKeys | None:
    keys = list(getattr(sink, "key_properties", None) or [])
    if not keys or getattr(sink, "load_method", "upsert") != "upsert":
        return None
    model = getattr(sink, "model", None)
    parent = list(getattr(model, "parent_key", None) or (getattr(sink, "schema", None) or {}).get("x-parent-key") or [])
    if parent:
        return StreamKeys(keys, parent, replace_scope=True)
    return StreamKeys(keys, keys, replace_scope=False)


class AuditChangeSource(ChangeSource):
    def __init__(self, target: Any, engine: sa.Engine):
        self.target = target
        self.engine = engine
        self._keys: dict[str, StreamKeys | None] = {}

    # --- keys ------------------------------------------------------------------------------------
    def stream_keys(self, stream: str) -> StreamKeys | None:
        if stream not in self._keys:
            self._keys[stream] = self._load_keys(stream)
        return self._keys[stream]

    def _load_keys(self, stream: str) -> StreamKeys | None:
        sink = _sink_for(self.target, stream)
        table = audit_tables.stream_keys
        if sink is not None:
            keys = stream_keys_from_sink(sink)
            with self.engine.begin() as conn:
                conn.execute(table.delete().where(table.c.stream == stream))
                if keys is not None:
                    conn.execute(table.insert().values(
                        stream=stream, key_columns=json.dumps(keys.key_columns),
                        scope_columns=json.dumps(keys.scope_columns), replace_scope=keys.replace_scope,
                        seen_at=audit_tables.now()))
            return keys
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.stream == stream)).first()
        if row is None:
            return None
        return StreamKeys(json.loads(row.key_columns), json.loads(row.scope_columns), bool(row.replace_scope))

    # --- runs and their changes ------------------------------------------------------------------
    def _has_core_audit(self) -> bool:
        return sa.inspect(self.engine).has_table("audit_records")

    def known_runs(self, stream: str) -> list[str]:
        """Every run the audit trail holds for the stream, oldest first (a run that crashed after its
        local commit never called the publish step; it is still owed a publish)."""
        from target_tableau_hyper import audit

        if not self._has_core_audit():
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit.run_streams.c.run_id)
                .join(audit.runs, audit.runs.c.run_id == audit.run_streams.c.run_id)
                .where(audit.run_streams.c.stream == stream)
                .order_by(audit.runs.c.started_at)
            )
            return [row.run_id for row in rows]

    def touched_scopes(self, stream: str, run_ids: Sequence[str]) -> list[tuple[Any, ...]] | None:
        from target_tableau_hyper import audit

        keys = self.stream_keys(stream)
        if keys is None or not self._has_core_audit():
            return None  # no keys or no audit trail (audit_enabled false): publish in full
        if not run_ids:
            return []
        positions = [keys.key_columns.index(c) for c in keys.scope_columns]
        scopes: set[tuple[Any, ...]] = set()
        with self.engine.connect() as conn:
            known = {row.run_id for row in conn.execute(
                sa.select(audit.runs.c.run_id).where(audit.runs.c.run_id.in_(list(run_ids))))}
            if known != set(run_ids):
                logger.warning("runs %s are not in the audit trail; publishing %s in full",
                               sorted(set(run_ids) - known), stream)
                return None
            # per run through audit.run_record_rows (on SQLite: the run's batch id ranges, no
            # (run_id, stream) index on the records)
            rows = set()
            for run_id in dict.fromkeys(run_ids):
                sub = audit.run_record_rows(conn, run_id, stream, ordered=False).subquery()
                rows.update(conn.execute(
                    sa.select(sub.c.record_key, sub.c.operation).distinct()
                    .where(sub.c.operation.in_(CHANGE_OPERATIONS))
                ).tuples())
            for record_key, operation in rows:
                values = json.loads(record_key)
                if operation == "parent_delete":
                    scopes.add(tuple(values))  # already the parent key, in x-parent-key order
                elif len(values) == len(keys.key_columns):
                    scopes.add(tuple(values[i] for i in positions))
        return sorted(scopes, key=lambda k: [str(v) for v in k])


def change_source_for(target: Any, engine: sa.Engine) -> ChangeSource:
    return AuditChangeSource(target, engine)


def pending_streams(engine: sa.Engine, hyper_files: dict[str, str]) -> dict[str, str]:
    """Streams not in this run that still have pending publishes and a local file: retried too."""
    from target_tableau_hyper import audit

    out: dict[str, str] = {}
    if not sa.inspect(engine).has_table("audit_run_streams"):
        return out
    with engine.connect() as conn:
        pending = {row.stream for row in conn.execute(
            sa.select(audit_tables.publish_runs.c.stream).distinct()
            .where(audit_tables.publish_runs.c.status == "pending"))}
        for stream in sorted(pending - set(hyper_files)):
            row = conn.execute(
                sa.select(audit.run_streams.c.hyper_file).where(audit.run_streams.c.stream == stream)
                .join(audit.runs, audit.runs.c.run_id == audit.run_streams.c.run_id)
                .order_by(audit.runs.c.started_at.desc()).limit(1)
            ).first()
            if row is not None and row.hyper_file and os.path.exists(row.hyper_file):
                out[stream] = row.hyper_file
    return out
