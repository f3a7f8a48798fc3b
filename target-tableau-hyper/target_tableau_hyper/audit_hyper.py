"""Optional copy of the audit trail in a .hyper file for Tableau (`audit_hyper: true`).

`<output_dir>/_audit.hyper`, schema "Extract", two tables:

  "runs"     one row per run: run_id (ASSUMED PRIMARY KEY) | started_at, ended_at TIMESTAMPTZ
             | status | error | streams (JSON list) | records, inserted, updated, deleted BIGINT
             | last_state (JSON) | output_dir
  "records"  one row per record loaded: run_id (ASSUMED FOREIGN KEY → runs) | batch_id
             | committed_at TIMESTAMPTZ | stream | record_key | operation | source_updated_at
             (text as the source sent it) | sync_token | line BIGINT

Why one separate file rather than an `_audit` table in each data file: it is one data source for
the whole pipeline (every stream and run, and runs that loaded nothing, e.g. interrupted ones);
the data files keep their single `"Extract"."Extract"` table, which Tableau publishes directly
on every version and which incremental publishing relies on; and the audit never takes the data
files' write lock. Published as is (tabcmd, REST API, tableauserverclient), Tableau Server /
Cloud 2021.4+ build the records→runs relationship from the foreign key; Tableau Desktop opens
the file and relates the two tables on run_id.

Written at the batch boundary: after a batch is committed to its stream's .hyper file and to
the audit DB, the batch's record rows and the run's updated row go into `_audit.hyper` in one
Hyper transaction, persisted at detach (see hyper_store.py). So the file never shows a record
that is not committed. A crash between the two leaves that batch out of `_audit.hyper` only;
the next run with `audit_hyper` on copies every run whose copy is behind the audit DB (also
the first time it is turned on: the history is copied).
"""

from __future__ import annotations

import os
import typing as t
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from tableauhyperapi import escape_name, escape_string_literal

from target_tableau_hyper.file_names import AUDIT_FILE_NAME
from target_tableau_hyper.hyper_store import AttachedFile, HyperEngine

FILE_NAME = AUDIT_FILE_NAME
_DB = AttachedFile.ALIAS
RUNS = f'{_DB}."Extract"."runs"'
RECORDS = f'{_DB}."Extract"."records"'
RUN_COLUMNS = (
    ("run_id", "TEXT NOT NULL"), ("started_at", "TIMESTAMPTZ"), ("ended_at", "TIMESTAMPTZ"),
    ("status", "TEXT"), ("error", "TEXT"), ("streams", "TEXT"), ("records", "BIGINT"),
    ("inserted", "BIGINT"), ("updated", "BIGINT"), ("deleted", "BIGINT"), ("last_state", "TEXT"),
    ("output_dir", "TEXT"),
)
RECORD_COLUMNS = (
    ("run_id", "TEXT NOT NULL"), ("batch_id", "TEXT"), ("committed_at", "TIMESTAMPTZ"),
    ("stream", "TEXT"), ("record_key", "TEXT"), ("operation", "TEXT"),
    ("source_updated_at", "TEXT"), ("sync_token", "TEXT"), ("line", "BIGINT"),
)
# per-record columns staged as Parquet (the others are constants of the batch)
_STAGED = pa.schema([("record_key", pa.string()), ("operation", pa.string()),
                     ("source_updated_at", pa.string()), ("sync_token", pa.string()), ("line", pa.int64())])
_TIMES = {"started_at", "ended_at", "committed_at"}


def _arrow(values: t.Any, type_: pa.DataType) -> t.Any:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values if values.type == type_ else pc.cast(values, type_)
    return pa.array(values, type=type_)


def _literal(name: str, value: t.Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    if name in _TIMES:
        return f"CAST({escape_string_literal(str(value))} AS TIMESTAMPTZ)"
    return escape_string_literal(str(value))


class AuditHyper:
    """Writes the `runs` and `records` tables of `_audit.hyper` (one transaction per call)."""

    def __init__(self, engine: HyperEngine, path: str | os.PathLike, staging_dir: str | os.PathLike) -> None:
        self.engine = engine
        self.path = str(path)
        self.staging_dir = Path(staging_dir)
        self._ensured = False

    def _ensure(self, conn: t.Any) -> None:
        if self._ensured:
            return
        conn.execute_command(f'CREATE SCHEMA IF NOT EXISTS {_DB}."Extract"')
        cols = ", ".join(f"{escape_name(n)} {k}" for n, k in RUN_COLUMNS)
        conn.execute_command(f"CREATE TABLE IF NOT EXISTS {RUNS} ({cols}, ASSUMED PRIMARY KEY (run_id))")
        cols = ", ".join(f"{escape_name(n)} {k}" for n, k in RECORD_COLUMNS)
        conn.execute_command(
            f"CREATE TABLE IF NOT EXISTS {RECORDS} ({cols}, "
            f'ASSUMED FOREIGN KEY (run_id) REFERENCES "Extract"."runs" (run_id))'
        )
        self._ensured = True

    def _stage(self, columns: t.Sequence[t.Any]) -> str:
        arrays = [_arrow(c, f.type) for c, f in zip(columns, _STAGED)]
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        path = str(self.staging_dir / f"audit-{uuid.uuid4().hex}.parquet")
        pq.write_table(pa.Table.from_arrays(arrays, schema=_STAGED), path, compression="none")
        return path

    def _upsert_runs(self, conn: t.Any, run_rows: t.Sequence[t.Mapping[str, t.Any]]) -> None:
        for run in run_rows:
            conn.execute_command(f"DELETE FROM {RUNS} WHERE run_id = {_literal('run_id', run['run_id'])}")
            values = ", ".join(_literal(n, run.get(n)) for n, _ in RUN_COLUMNS)
            conn.execute_command(f"INSERT INTO {RUNS} VALUES ({values})")

    def _insert_records(self, conn: t.Any, parquet: str, run_id: str, batch_id: str | None,
                        committed_at: str | None, stream: str, batch_column: bool = False) -> None:
        batch = "s.batch_id" if batch_column else _literal("batch_id", batch_id)
        committed = "CAST(s.committed_at AS TIMESTAMPTZ)" if batch_column else _literal("committed_at", committed_at)
        stream_sql = "s.stream" if batch_column else _literal("stream", stream)
        conn.execute_command(
            f"INSERT INTO {RECORDS} SELECT {_literal('run_id', run_id)}, {batch}, {committed}, {stream_sql}, "
            "s.record_key, s.operation, s.source_updated_at, s.sync_token, s.line "
            f"FROM external({escape_string_literal(parquet)}, FORMAT => 'parquet') s"
        )

    def write_batch(self, run: t.Mapping[str, t.Any], *, batch_id: str, committed_at: str, stream: str,
                    columns: t.Sequence[t.Any]) -> None:
        """One committed batch: its record rows and the run's new counters, in one transaction.
        `columns` = (record_key, operation, source_updated_at, sync_token, line), each a list or
        an Arrow array (used as is: no conversion through Python objects)."""
        parquet = self._stage(columns)
        try:
            with AttachedFile(self.engine, self.path) as conn:
                self._ensure(conn)
                conn.execute_command("BEGIN TRANSACTION")
                self._insert_records(conn, parquet, run["run_id"], batch_id, committed_at, stream)
                self._upsert_runs(conn, [run])
                conn.execute_command("COMMIT")
        finally:
            os.remove(parquet)

    def write_runs(self, run_rows: t.Sequence[t.Mapping[str, t.Any]]) -> None:
        """Runs' rows only (start, state emitted, end, abandoned)."""
        with AttachedFile(self.engine, self.path) as conn:
            self._ensure(conn)
            conn.execute_command("BEGIN TRANSACTION")
            self._upsert_runs(conn, run_rows)
            conn.execute_command("COMMIT")

    # --- catching up with the audit DB ----------------------------------------------------------
    def copied_runs(self) -> dict[str, tuple]:
        """{run_id: (status, records, inserted, updated, deleted)} as the file holds them."""
        with AttachedFile(self.engine, self.path) as conn:
            self._ensure(conn)
            rows = conn.execute_list_query(
                f"SELECT run_id, status, records, inserted, updated, deleted FROM {RUNS}")
        return {r[0]: tuple(r[1:]) for r in rows}

    def copy_run(self, run: t.Mapping[str, t.Any], record_chunks: t.Iterable[pa.Table]) -> None:
        """Replace one run's rows with the audit DB's (chunks: Arrow tables of _STAGED + batch_id,
        committed_at, stream), in one transaction."""
        staged: list[str] = []
        try:
            for chunk in record_chunks:
                self.staging_dir.mkdir(parents=True, exist_ok=True)
                staged.append(str(self.staging_dir / f"audit-{uuid.uuid4().hex}.parquet"))
                pq.write_table(chunk, staged[-1], compression="none")
            with AttachedFile(self.engine, self.path) as conn:
                self._ensure(conn)
                conn.execute_command("BEGIN TRANSACTION")
                conn.execute_command(f"DELETE FROM {RECORDS} WHERE run_id = {_literal('run_id', run['run_id'])}")
                for parquet in staged:
                    self._insert_records(conn, parquet, run["run_id"], None, None, "", batch_column=True)
                self._upsert_runs(conn, [run])
                conn.execute_command("COMMIT")
        finally:
            for parquet in staged:
                os.remove(parquet)


def _runs_query(run_id: str | None = None) -> sa.Select:
    """Runs' rows for `_audit.hyper` from the audit DB (records = sum over the run's streams)."""
    from target_tableau_hyper import audit

    n = (
        sa.select(audit.run_streams.c.run_id, sa.func.sum(audit.run_streams.c.records).label("records"))
        .group_by(audit.run_streams.c.run_id)
        .subquery()
    )
    query = (
        sa.select(*audit.runs.c, sa.func.coalesce(n.c.records, 0).label("records"))
        .select_from(audit.runs.outerjoin(n, n.c.run_id == audit.runs.c.run_id))
        .order_by(audit.runs.c.started_at)
    )
    return query if run_id is None else query.where(audit.runs.c.run_id == run_id)


def run_values(conn: sa.Connection, run_id: str) -> dict[str, t.Any]:
    row = conn.execute(_runs_query(run_id)).one()
    return {**row._mapping, "records": int(row.records)}


def catch_up(mirror: AuditHyper, engine: sa.Engine, *, chunk_rows: int = 200_000) -> list[str]:
    """Copy every run whose copy in the file differs from the audit DB (missing, other status or
    counts). Returns their ids."""
    copied = mirror.copied_runs()
    with engine.connect() as conn:
        behind = []
        for row in conn.execute(_runs_query()):
            run = {**row._mapping, "records": int(row.records)}
            if copied.get(run["run_id"]) != (run["status"], run["records"], run["inserted"], run["updated"],
                                             run["deleted"]):
                behind.append(run)
        for run in behind:
            mirror.copy_run(run, _record_chunks(conn, run["run_id"], chunk_rows))
    return [r["run_id"] for r in behind]


def _record_chunks(conn: sa.Connection, run_id: str, chunk_rows: int) -> t.Iterator[pa.Table]:
    from target_tableau_hyper import audit

    sub = audit.run_record_rows(conn, run_id).subquery()
    query = (
        sa.select(sub.c.record_key, sub.c.operation, sub.c.source_updated_at, sub.c.sync_token, sub.c.line,
                  sub.c.batch_id, audit.batches.c.committed_at, sub.c.stream)
        .join(audit.batches, audit.batches.c.batch_id == sub.c.batch_id)
        .order_by(sub.c.id)
    )
    schema = _STAGED.append(pa.field("batch_id", pa.string())).append(
        pa.field("committed_at", pa.string())).append(pa.field("stream", pa.string()))
    result = conn.execution_options(stream_results=True).execute(query)
    while rows := result.fetchmany(chunk_rows):
        yield pa.Table.from_pylist([dict(r._mapping) for r in rows], schema=schema)
