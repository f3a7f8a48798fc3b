"""Writing to .hyper files with the real Hyper engine.

Durability: Hyper keeps committed changes of an attached database in memory and writes them
to the file when the database is detached (measured: a `kill -9` of hyperd after COMMIT but
before DETACH loses the commit; the file still opens at its previous state). So every write
here is: attach → BEGIN → statements → COMMIT → DETACH. The detach persists the file
(copy-on-write blocks, then the header), so a kill at any moment leaves the file at the last
detached state, and the SDK emits STATE only after the batch's detach returned.

One HyperProcess per run (`HyperEngine`), reused by every stream; one short connection per
batch. Writers of the same file (multi-table option) take a per-file lock.
"""

from __future__ import annotations

import logging
import os
import threading
import typing as t
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from tableauhyperapi import (
    Connection,
    HyperProcess,
    Telemetry,
    TypeTag,
    escape_name,
    escape_string_literal,
)

from target_tableau_hyper.types import (
    KIND_BIGINT,
    KIND_BOOL,
    KIND_DATE,
    KIND_NUMERIC,
    KIND_TEXT,
    KIND_TIMESTAMPTZ,
    MAX_NUMERIC_PRECISION_V2,
    Column,
    SchemaError,
    merge_columns,
)

logger = logging.getLogger(__name__)

EXTRACT_SCHEMA = "Extract"
OP_UPSERT = "U"
OP_DELETE = "D"
OP_PARENT = "P"
SEQ_COLUMN = "_ttH_seq"
OP_COLUMN = "_ttH_op"


class HyperEngine:
    """The run's single HyperProcess, started on first use."""

    def __init__(
        self,
        *,
        log_dir: str | os.PathLike,
        telemetry: bool = False,
        database_version: int = 2,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.telemetry = telemetry
        self.database_version = database_version
        self._process: HyperProcess | None = None
        #: set by the target: `defer(path, fn)` runs `fn(conn)` later, with the file `path`
        #: attached on `conn`, in order with the loads of that file (a table's set-up then runs on
        #: the loader threads, inside the attach of the file's next load); None: right away
        self.defer: t.Callable[[str, t.Callable[[Connection], None]], None] | None = None
        self._start_lock = threading.Lock()
        self._file_locks: dict[str, threading.Lock] = {}
        # (file, table) → its columns as this run last created/evolved or read them, shared by
        # every sink of the table (a newer sink of a stream may widen what an older one loads).
        self._columns: dict[tuple[str, str], dict[str, Column]] = {}
        #: (file, table) created empty by this run and loaded by no batch since (under the
        #: file's lock): its first load needs no emptiness query
        self.created_empty: set[tuple[str, str]] = set()

    def known_columns(self, path: str, table: str) -> dict[str, Column] | None:
        return self._columns.get((os.path.abspath(path), table))

    def remember_columns(self, path: str, table: str, columns: dict[str, Column]) -> None:
        self._columns[(os.path.abspath(path), table)] = dict(columns)

    @property
    def max_numeric_precision(self) -> int:
        return MAX_NUMERIC_PRECISION_V2 if self.database_version < 3 else 38

    @property
    def endpoint(self) -> t.Any:
        with self._start_lock:
            if self._process is None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                self._process = HyperProcess(
                    Telemetry.SEND_USAGE_DATA_TO_TABLEAU
                    if self.telemetry
                    else Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU,
                    parameters={
                        "log_dir": str(self.log_dir),
                        "default_database_version": str(self.database_version),
                    },
                )
            return self._process.endpoint

    def file_lock(self, path: str) -> threading.Lock:
        with self._start_lock:
            return self._file_locks.setdefault(os.path.abspath(path), threading.Lock())

    def run_setups(self, path: str, setups: list[t.Callable[[Connection], None]]) -> None:
        """Deferred set-ups of the file `path` in one attach of their own (see `run_setups`)."""
        if setups:
            with AttachedFile(self, path) as conn:
                run_setups(conn, setups)

    def close(self) -> None:
        with self._start_lock:
            if self._process is not None:
                self._process.close()
                self._process = None


def run_setups(conn: Connection, setups: list[t.Callable[[Connection], None]]) -> None:
    """Run deferred set-ups on a connection with their file attached, in order, each taken off
    the list before it runs (what is left after a failure never ran)."""
    while setups:
        setups.pop(0)(conn)


class AttachedFile:
    """Context manager: a connection with `path` attached as "db", detached (=persisted) at exit."""

    ALIAS = "db"

    def __init__(self, engine: HyperEngine, path: str) -> None:
        self.engine = engine
        self.path = path
        self.lock = engine.file_lock(path)
        self.conn: Connection | None = None

    def __enter__(self) -> Connection:
        self.lock.acquire()
        try:
            self.conn = Connection(self.engine.endpoint)
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.conn.catalog.create_database_if_not_exists(self.path)
            self.conn.catalog.attach_database(self.path, alias=self.ALIAS)
        except BaseException:
            self._close()
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.conn is not None and self.conn.is_open:
                if exc_type is not None:
                    try:
                        self.conn.execute_command("ROLLBACK")
                    except Exception:  # noqa: BLE001 - no open transaction
                        pass
                self.conn.catalog.detach_database(self.ALIAS)
        finally:
            self._close()

    def _close(self) -> None:
        try:
            if self.conn is not None:
                self.conn.close()
        finally:
            self.conn = None
            self.lock.release()


def column_from_hyper(name: str, sql_type: t.Any) -> Column:
    tag = sql_type.tag
    if tag == TypeTag.BIG_INT:
        return Column(name, KIND_BIGINT)
    if tag == TypeTag.NUMERIC:
        return Column(name, KIND_NUMERIC, sql_type.precision, sql_type.scale)
    if tag == TypeTag.BOOL:
        return Column(name, KIND_BOOL)
    if tag == TypeTag.DATE:
        return Column(name, KIND_DATE)
    if tag == TypeTag.TIMESTAMP_TZ:
        return Column(name, KIND_TIMESTAMPTZ)
    if tag == TypeTag.TEXT:
        return Column(name, KIND_TEXT)
    return Column(name, f"other:{sql_type}")


@dataclass
class StagedFile:
    """A batch's staged rows on disk and the `external(...)` expression Hyper reads them with."""

    path: str
    source_sql: str
    #: the Hyper type each column is read as (declared in `source_sql`); None: read from the file
    column_types: dict[str, str] | None = None


def _hyper_type_of_arrow(arrow_type: t.Any) -> str | None:
    """The Hyper column type an Arrow IPC column of `arrow_type` is read as (the types staging
    writes: `Column.arrow_type` and the SEQ/OP columns); None for any other."""
    if pa.types.is_string(arrow_type):
        return "TEXT"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_boolean(arrow_type):
        return "BOOL"
    if pa.types.is_date32(arrow_type):
        return "DATE"
    if pa.types.is_decimal128(arrow_type):
        return f"NUMERIC({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type) and arrow_type.unit == "us" and arrow_type.tz in ("UTC", "+00:00"):
        return "TIMESTAMP WITH TIME ZONE"
    return None


def stage_file(table: t.Any, directory: Path) -> StagedFile:
    """Write a staged batch (Arrow table) for one load. Arrow IPC file with its columns declared
    to Hyper (measured ~6x less CPU to write than uncompressed Parquet, the same for Hyper to
    read); Parquet (schema read from the file) if a column has a type the declaration does not
    cover. The caller removes the file."""
    directory.mkdir(parents=True, exist_ok=True)
    types = [_hyper_type_of_arrow(f.type) for f in table.schema]
    declared = all(types)
    path = f"{directory / uuid.uuid4().hex}.{'arrow' if declared else 'parquet'}"
    try:
        if declared:
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        else:
            import pyarrow.parquet as pq  # rare (a type the declaration does not cover)

            # Uncompressed: the file lives for one load; compression would only cost CPU.
            pq.write_table(table, path, compression="none", use_dictionary=False, write_statistics=False)
    except BaseException:
        remove_staged(path)
        raise
    if declared:
        columns = ", ".join(f"{escape_name(f.name)} {kind}" for f, kind in zip(table.schema, types))
        return StagedFile(
            path, f"external({escape_string_literal(path)}, COLUMNS => DESCRIPTOR({columns}), FORMAT => 'arrowfile')",
            column_types=dict(zip(table.schema.names, types)),
        )
    return StagedFile(path, f"external({escape_string_literal(path)}, FORMAT => 'parquet')")


def _same_sql_type(a: str | None, b: str) -> bool:
    """Whether two Hyper type names (as `Column.sql_type` / `_hyper_type_of_arrow` write them)
    are the same type."""
    return a is not None and _SQL_TYPE_ALIASES.get(a, a) == _SQL_TYPE_ALIASES.get(b, b)


_SQL_TYPE_ALIASES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def remove_staged(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@dataclass
class ApplyResult:
    rows_inserted: int  # physical rows inserted (new keys + new versions of existing keys)
    existed_seqs: set[int]  # seq of staged U/D rows whose key was already in the table
    parent_rows_deleted: int  # rows removed (or soft-deleted) by parent tombstones


class HyperTable:
    """One stream's table `"Extract"."<table>"` in a .hyper file."""

    def __init__(
        self,
        engine: HyperEngine,
        path: str,
        table: str,
        *,
        stream: str,
        key_properties: t.Sequence[str],
        parent_key: t.Sequence[str],
        hard_delete: bool,
    ) -> None:
        self.engine = engine
        self.path = path
        self.stream = stream
        self.table_sql = f"{AttachedFile.ALIAS}.{escape_name(EXTRACT_SCHEMA)}.{escape_name(table)}"
        self.table_name = table
        self.key_properties = list(key_properties)
        self.parent_key = list(parent_key)
        self.hard_delete = hard_delete
        self.table_columns: dict[str, Column] = {}
        # rows committed by this run: the table is then known not to be empty (deletes may have
        # emptied it since, but then the general keyed path below is still right, only slower)
        self._has_rows = False

    # --- schema ------------------------------------------------------------------------
    def _read_columns(self, conn: Connection) -> dict[str, Column] | None:
        from tableauhyperapi import TableName

        name = TableName(AttachedFile.ALIAS, EXTRACT_SCHEMA, self.table_name)
        if not conn.catalog.has_table(name):
            return None
        definition = conn.catalog.get_table_definition(name)
        return {
            c.name.unescaped: column_from_hyper(c.name.unescaped, c.type)
            for c in definition.columns
        }

    def ensure(self, columns: t.Sequence[Column]) -> None:
        """Create the table, or evolve it to hold `columns` (each change its own transaction).

        With `engine.defer` set (the target), the Hyper work runs on the loader threads, before
        any batch of this file handed over later: opening and detaching a file costs ~50-100 ms
        of waiting per stream, which the run's main thread no longer spends on every SCHEMA.
        It runs inside the attach of the file's next load (`apply(setups=...)`), else in its
        own attach at the target's next barrier: each attach of a file costs hyperd ~20-55 ms
        of CPU (it generates the tables' access code: `database-load` / `generate-code` in its
        log), so a stream with records no longer pays it twice a run.
        A schema the file cannot take then fails the load queued behind it (same error)."""
        for c in columns:
            if c.kind == KIND_NUMERIC and c.precision > self.engine.max_numeric_precision:
                raise SchemaError(
                    f"stream '{self.stream}', field '{c.name}': NUMERIC({c.precision},"
                    f"{c.scale}) needs Hyper database version 3 (set hyper_database_version: 3;"
                    " opens in Tableau Desktop 2022.4.1 / Server 2023.1 and newer)"
                )
        if self.engine.defer is not None:
            wanted = list(columns)
            self.engine.defer(self.path, lambda conn: self._ensure_in(conn, wanted))
        else:
            self._ensure_now(columns)

    def _ensure_now(self, columns: t.Sequence[Column]) -> None:
        with AttachedFile(self.engine, self.path) as conn:
            self._ensure_in(conn, columns)

    def _ensure_in(self, conn: Connection, columns: t.Sequence[Column]) -> None:
        """`ensure` on a connection with this table's file attached (no transaction open)."""
        conn.execute_command(
            f"CREATE SCHEMA IF NOT EXISTS {AttachedFile.ALIAS}.{escape_name(EXTRACT_SCHEMA)}"
        )
        self._recover_rebuild(conn)
        existing = self._read_columns(conn)
        if existing is None:
            cols = ", ".join(f"{escape_name(c.name)} {c.sql_type}" for c in columns)
            conn.execute_command(f"CREATE TABLE {self.table_sql} ({cols})")
            self.engine.created_empty.add((os.path.abspath(self.path), self.table_name))
            self.table_columns = {c.name: c for c in columns}
            self.engine.remember_columns(self.path, self.table_name, self.table_columns)
            return
        # New properties: add columns first, in their own transaction.
        added = [c for c in columns if c.name not in existing]
        if added:
            conn.execute_command("BEGIN TRANSACTION")
            for c in added:
                conn.execute_command(
                    f"ALTER TABLE {self.table_sql} ADD COLUMN {escape_name(c.name)} {c.sql_type}"
                )
                existing[c.name] = c
            conn.execute_command("COMMIT")
            logger.info("stream '%s': added columns %s", self.stream, [c.name for c in added])
        # Changed types: widen (Hyper has no ALTER COLUMN TYPE: rebuild the table in one
        # transaction; every value is cast, an overflow aborts with nothing changed).
        changed: dict[str, Column] = {}
        for c in columns:
            old = existing[c.name]
            if old.kind.startswith("other:"):
                raise SchemaError(
                    f"stream '{self.stream}', field '{c.name}': existing column type "
                    f"{old.kind[6:]} is not one this target writes"
                )
            merged = merge_columns(old, c, stream=self.stream)
            if merged.sql_type != old.sql_type:
                if merged.kind == KIND_NUMERIC and merged.precision > self.engine.max_numeric_precision:
                    raise SchemaError(
                        f"stream '{self.stream}', field '{c.name}': widening {old.sql_type} to"
                        f" {merged.sql_type} needs hyper_database_version 3"
                    )
                changed[c.name] = merged
        if changed:
            self._rebuild(conn, existing, changed)
            existing.update(changed)
            logger.info(
                "stream '%s': widened columns %s",
                self.stream,
                {k: v.sql_type for k, v in changed.items()},
            )
        self.table_columns = existing
        self.engine.remember_columns(self.path, self.table_name, existing)

    def _rebuild(self, conn: Connection, existing: dict[str, Column], changed: dict[str, Column]) -> None:
        # Hyper runs no DDL and DML in one transaction, and has no ALTER COLUMN TYPE. The file
        # only changes on disk at detach, so a crash in this sequence leaves the old file; each
        # step keeps a readable table (old table intact until the copy exists; a leftover copy
        # is renamed back by `_recover_rebuild`). A failing cast aborts before anything changed.
        tmp = self._widen_sql
        select = ", ".join(
            f"CAST({escape_name(n)} AS {changed[n].sql_type}) AS {escape_name(n)}"
            if n in changed
            else escape_name(n)
            for n in existing
        )
        conn.execute_command(f"DROP TABLE IF EXISTS {tmp}")
        conn.execute_command(f"CREATE TABLE {tmp} AS (SELECT {select} FROM {self.table_sql})")
        conn.execute_command(f"DROP TABLE {self.table_sql}")
        conn.execute_command(f"ALTER TABLE {tmp} RENAME TO {escape_name(self.table_name)}")

    @property
    def _widen_sql(self) -> str:
        return f"{AttachedFile.ALIAS}.{escape_name(EXTRACT_SCHEMA)}.{escape_name(self.table_name + '__widen')}"

    def _recover_rebuild(self, conn: Connection) -> None:
        from tableauhyperapi import TableName

        main = TableName(AttachedFile.ALIAS, EXTRACT_SCHEMA, self.table_name)
        widen = TableName(AttachedFile.ALIAS, EXTRACT_SCHEMA, self.table_name + "__widen")
        if conn.catalog.has_table(widen):
            if conn.catalog.has_table(main):
                conn.execute_command(f"DROP TABLE {self._widen_sql}")
            else:
                conn.execute_command(f"ALTER TABLE {self._widen_sql} RENAME TO {escape_name(self.table_name)}")

    # --- data --------------------------------------------------------------------------
    def apply(
        self,
        staged: StagedFile,
        staged_columns: t.Sequence[str],
        *,
        load_method: str,
        truncate: bool,
        parent_tombstones: bool = True,
        setups: list[t.Callable[[Connection], None]] | None = None,
    ) -> ApplyResult:
        """Load one staged batch in one transaction (see README "Load methods").

        `parent_tombstones=False` (the batch has none) skips the parent-scoped delete: a join
        of the staged file against the whole table, ~7% of a first load's Hyper time.
        `setups`: the file's deferred table set-ups (`HyperEngine.defer`) to run first, in this
        attach, before the batch's transaction (each taken off the list as it runs)."""
        tbl = self.table_sql
        q = escape_name
        keyed = bool(self.key_properties) and load_method != "append-only"
        with AttachedFile(self.engine, self.path) as conn:
            if setups:
                run_setups(conn, setups)
            # Current column types (a newer sink of the stream may have widened them since):
            # as ensure() left them in this run (under this file's lock), else read.
            current = self.engine.known_columns(self.path, self.table_name)
            if current is None:
                current = self._read_columns(conn)
                if current is not None:
                    self.engine.remember_columns(self.path, self.table_name, current)
            self.table_columns = current or self.table_columns
            # The statements read the staged file directly (columnar: the key checks read the key
            # columns only; the rows are copied once, by the INSERT).
            stage = staged.source_sql
            # created (empty) by this run's set-up and loaded by no batch since: no query needed
            table_key = (os.path.abspath(self.path), self.table_name)
            created_empty = table_key in self.engine.created_empty
            self.engine.created_empty.discard(table_key)  # whatever happens next, it may hold rows
            conn.execute_command("BEGIN TRANSACTION")
            if truncate:
                conn.execute_command(f"DELETE FROM {tbl}")
            insert_cols = [c for c in staged_columns if c in self.table_columns]
            # A column staged as the table's own type is read as is: a CAST to the same type is
            # no work for the result but still costs hyperd per value (~2 us a wide record)
            declared = staged.column_types or {}
            select = ", ".join(
                f"s.{q(c)}" if _same_sql_type(declared.get(c), self.table_columns[c].sql_type)
                else f"CAST(s.{q(c)} AS {self.table_columns[c].sql_type})"
                for c in insert_cols
            )
            col_list = ", ".join(q(c) for c in insert_cols)
            inserted = parent_deleted = 0
            existed: set[int] = set()
            if not keyed:
                inserted = conn.execute_command(
                    f"INSERT INTO {tbl} ({col_list}) SELECT {select} FROM {stage} s "
                    f"WHERE s.{q(OP_COLUMN)} <> '{OP_PARENT}'"
                )
            elif truncate or created_empty or (
                not self._has_rows and conn.execute_scalar_query(f"SELECT NOT EXISTS (SELECT 1 FROM {tbl})")
            ):
                # Empty table (first load, overwrite): no key can exist, nothing to delete.
                inserted = conn.execute_command(
                    f"INSERT INTO {tbl} ({col_list}) SELECT {select} FROM {stage} s "
                    f"WHERE s.{q(OP_COLUMN)} = '{OP_UPSERT}'"
                )
            else:
                key_match = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in self.key_properties)
                if self.parent_key and parent_tombstones:
                    parent_match = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in self.parent_key)
                    if self.hard_delete:
                        parent_deleted = conn.execute_command(
                            f"DELETE FROM {tbl} t WHERE EXISTS (SELECT 1 FROM {stage} s "
                            f"WHERE s.{q(OP_COLUMN)} = '{OP_PARENT}' AND {parent_match})"
                        )
                    else:
                        parent_deleted = conn.execute_command(
                            f"UPDATE {tbl} t SET {q('_sdc_deleted_at')} = s.{q('_sdc_deleted_at')} "
                            f"FROM {stage} s WHERE s.{q(OP_COLUMN)} = '{OP_PARENT}' AND {parent_match}"
                            f" AND t.{q('_sdc_deleted_at')} IS NULL"
                        )
                existed = {
                    int(row[0])
                    for row in conn.execute_list_query(
                        f"SELECT s.{q(SEQ_COLUMN)} FROM {stage} s WHERE s.{q(OP_COLUMN)} <> "
                        f"'{OP_PARENT}' AND EXISTS (SELECT 1 FROM {tbl} t WHERE {key_match})"
                    )
                }
                delete_ops = f"('{OP_UPSERT}', '{OP_DELETE}')" if self.hard_delete else f"('{OP_UPSERT}')"
                if existed:  # no staged key is in the table: nothing to replace or delete
                    conn.execute_command(
                        f"DELETE FROM {tbl} t WHERE EXISTS (SELECT 1 FROM {stage} s "
                        f"WHERE s.{q(OP_COLUMN)} IN {delete_ops} AND {key_match})"
                    )
                if existed and not self.hard_delete:
                    conn.execute_command(
                        f"UPDATE {tbl} t SET {q('_sdc_deleted_at')} = s.{q('_sdc_deleted_at')} "
                        f"FROM {stage} s WHERE s.{q(OP_COLUMN)} = '{OP_DELETE}' AND {key_match}"
                    )
                inserted = conn.execute_command(
                    f"INSERT INTO {tbl} ({col_list}) SELECT {select} FROM {stage} s "
                    f"WHERE s.{q(OP_COLUMN)} = '{OP_UPSERT}'"
                )
            conn.execute_command("COMMIT")
        self._has_rows = self._has_rows or bool(inserted)
        return ApplyResult(inserted, existed, parent_deleted)
