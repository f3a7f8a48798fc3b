"""Audit trail of every run, batch and record loaded (SQLAlchemy; SQLite file by default).

Configured by `audit_db_url` (default `sqlite:///<output_dir>/audit.sqlite`; any SQLAlchemy
URL, e.g. `postgresql+psycopg://…`). The publishing step reads these tables and adds its own
(publishes, refreshes, webhook events) to the same database.

Tables (all timestamps are UTC ISO-8601 text, `…+00:00`):

`audit_runs` — one row per target run
    run_id TEXT PK | started_at | ended_at (NULL while running) | status | error TEXT
    | streams TEXT (JSON list) | inserted, updated, deleted INT (totals over streams)
    | last_state TEXT (JSON of the last STATE the run emitted) | output_dir TEXT
    | process TEXT (`host:pid:start-ticks` of the target process)
    | heartbeat_at (the run's last sign of life while running: set at its start, by every
      committed batch and state, and every `heartbeat_interval` seconds while it is quiet)
    status is one of:
      'running'      not ended (yet)
      'succeeded'    every record committed, last state emitted (and published, if on)
      'failed'       bad input, load or publish error (`error` says which)
      'interrupted'  stopped by SIGTERM/SIGINT: batches in flight were committed, buffered
                     records dropped (no state covers them); `error` names the signal
      'abandoned'    its process died without ending it (kill -9, OOM killer, machine lost);
                     set by the next run on the same host (its process is gone), or by a run
                     on any host once its heartbeat is older than `audit_stale_run_timeout_minutes`
                     (another host's run; shared DB); ended_at = its last sign of life

`audit_run_streams` — per run and stream (PK run_id, stream)
    run_id | stream | hyper_file TEXT (path of the .hyper) | table_name TEXT (e.g. "Extract"."Extract")
    | records INT (records received) | inserted | updated | deleted | batches INT

`audit_batches` — one row per committed batch (PK batch_id)
    batch_id TEXT | run_id | stream | committed_at | records | inserted | updated | deleted
    | first_line, last_line INT (input line numbers the batch covers)
    | first_record_id, last_record_id INT (the batch's audit_records ids, consecutive; SQLite;
      index on first_record_id there: the batch holding a record row)

`audit_records` — one row per RECORD message loaded
    id INT PK | run_id | batch_id | stream | record_key TEXT (JSON array of the key property
    values in key order, e.g. `["9130","145"]`; for `parent_delete` the parent key values in
    `x-parent-key` order) | operation TEXT | source_updated_at TEXT (`updated_at`, else
    `MetaData.LastUpdatedTime`, as sent) | sync_token TEXT (`SyncToken`) | line INT
    operation is one of:
      'insert'   key was not in the table, row inserted
      'update'   key was in the table, row replaced
      'delete'   key deleted (hard delete) or marked with _sdc_deleted_at (hard_delete false)
      'parent_delete'  parent tombstone: every row of that parent deleted/marked
      'append'   append-only load (no key logic)
      'superseded'  a later record of the same key in the same batch was loaded instead
      'dropped_by_parent_tombstone'  a line sent before a later tombstone of its parent
    Lines are recorded in message order; `line` is the input line number of the message.
    Every row holds its run_id, batch_id and stream. SQLite: the only index is (record_key)
    (the stream is checked on the row); a few rows written during this version's development
    left run_id, batch_id and stream empty ('') and are read through the batch whose id range
    (audit_batches.first/last_record_id) holds them. Other databases: indexes (stream,
    record_key) and (run_id, stream). The code reads the rows through `run_record_rows(conn,
    run_id, stream)` (a run's rows, in id order) and `record_history(conn, stream, keys, limit)`
    (one record's rows, newest first); on SQLite the view `audit_records_full` adds each row's
    batch commit time. For incremental publishing, a run's
    changed keys per stream: `changed_keys(engine, run_id, stream)` (operations insert, update,
    delete, parent_delete; the final table state for those keys is in the .hyper file).

`audit_states` — every STATE the target emitted
    id INT PK | run_id | emitted_at | state TEXT (JSON)

Rows of a batch are written after the batch is committed to the .hyper file and before any
STATE covering it is emitted. A crash between the two leaves that batch out of the audit; its
records are re-sent by the tap on the rerun (the state did not move) and audited then.
Per-record rows are bulk-inserted per batch, in one transaction with the batch's counters: on
SQLite as multi-row INSERTs of 1024 rows with bound parameters (columns constant over the batch
bound once per statement; the values bound by the driver in C, each statement run without the
GIL; no per-row parsing, unlike INSERT … SELECT FROM json_each, which re-parsed every row's JSON
array for each column), on one connection kept for the batches with a 32 MiB page cache; COPY
on PostgreSQL, else executemany. The target writes them from its own thread (`audit_writer.py`)
while the next batch loads, and checkpoints the SQLite WAL there.
"""

from __future__ import annotations

import datetime
import itertools
import json
import logging
import os
import sqlite3
import socket
import threading
import time
import typing as t
import weakref
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from target_tableau_hyper.sql_tables import create_tables

if t.TYPE_CHECKING:
    from target_tableau_hyper.audit_hyper import AuditHyper

logger = logging.getLogger(__name__)

#: another host's run with no sign of life for this long is abandoned (setting
#: `audit_stale_run_timeout_minutes`; 0/None = never by age)
DEFAULT_STALE_RUN_TIMEOUT_MINUTES = 60
#: most seconds between two heartbeats of a quiet run, whatever the timeout: hosts sharing a DB
#: may be configured with different timeouts, and one UPDATE a minute costs nothing
MAX_HEARTBEAT_SECONDS = 60.0

metadata = sa.MetaData()
_KEY_INDEX = "ix_audit_records_key"  # SQLite: (record_key)
_STREAM_KEY_INDEX = "ix_audit_records_stream_key"  # other databases: (stream, record_key)
_RUN_INDEX = "ix_audit_records_run_stream"  # other databases: (run_id, stream)
_BATCH_RANGE_INDEX = "ix_audit_batches_first_record_id"  # SQLite: the batch holding a row id
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

runs = sa.Table(
    "audit_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("streams", sa.Text),
    sa.Column("inserted", sa.BigInteger, default=0),
    sa.Column("updated", sa.BigInteger, default=0),
    sa.Column("deleted", sa.BigInteger, default=0),
    sa.Column("last_state", sa.Text),
    sa.Column("output_dir", sa.Text),
    sa.Column("process", sa.String(255)),  # "host:pid:start-ticks" of the target (stale runs)
    sa.Column("heartbeat_at", sa.String(40)),  # last sign of life while running (stale runs)
)
run_streams = sa.Table(
    "audit_run_streams",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("stream", sa.String(255), primary_key=True),
    sa.Column("hyper_file", sa.Text),
    sa.Column("table_name", sa.Text),
    sa.Column("records", sa.BigInteger, default=0),
    sa.Column("inserted", sa.BigInteger, default=0),
    sa.Column("updated", sa.BigInteger, default=0),
    sa.Column("deleted", sa.BigInteger, default=0),
    sa.Column("batches", sa.Integer, default=0),
)
batches = sa.Table(
    "audit_batches",
    metadata,
    sa.Column("batch_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("stream", sa.String(255), nullable=False),
    sa.Column("committed_at", sa.String(40), nullable=False),
    sa.Column("records", sa.BigInteger),
    sa.Column("inserted", sa.BigInteger),
    sa.Column("updated", sa.BigInteger),
    sa.Column("deleted", sa.BigInteger),
    sa.Column("first_line", sa.BigInteger),
    sa.Column("last_line", sa.BigInteger),
    sa.Column("first_record_id", sa.BigInteger),
    sa.Column("last_record_id", sa.BigInteger),
    # SQLite: the batch holding a record row (rows store no run/batch/stream of their own there)
    sa.Index(_BATCH_RANGE_INDEX, "first_record_id").ddl_if(dialect="sqlite"),
)
records = sa.Table(
    "audit_records",
    metadata,
    # BIGINT ids (BIGSERIAL on PostgreSQL); SQLite needs INTEGER PRIMARY KEY (its rowid)
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("batch_id", sa.String(64), nullable=False),
    sa.Column("stream", sa.String(255), nullable=False),
    sa.Column("record_key", sa.Text, nullable=False),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("source_updated_at", sa.String(40)),
    sa.Column("sync_token", sa.String(64)),
    sa.Column("line", sa.BigInteger),
    # `audit record`: (stream, record_key) on other databases; on SQLite (record_key) only, the
    # stream being its batch's (rows there leave run_id, batch_id and stream empty)
    sa.Index(_STREAM_KEY_INDEX, "stream", "record_key").ddl_if(
        callable_=lambda _ddl, _target, _bind, dialect, **_kw: dialect.name != "sqlite"),
    sa.Index(_KEY_INDEX, "record_key").ddl_if(dialect="sqlite"),
    # A run's rows: on SQLite through each batch's id range (audit_batches), so no index on
    # (run_id, stream) there (it cost ~7% of the audit's CPU); other databases get one
    # (`_RUN_INDEX`, created by `migrate`), their ids not being consecutive per batch.
)

states = sa.Table(
    "audit_states",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("emitted_at", sa.String(40), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)

_RECORD_COLUMNS = (
    "run_id", "batch_id", "stream", "record_key", "operation",
    "source_updated_at", "sync_token", "line",
)


#: rows per bound multi-row INSERT on SQLite (a power of two; the batch's tail goes in pieces of
#: smaller powers of two, so a handful of statements serve every batch size from the cache)
SQLITE_ROWS_PER_STATEMENT = 1024


def _sqlite_values_insert(constant: t.Sequence[bool], n_rows: int) -> str:
    """INSERT … VALUES of `n_rows` rows with numbered parameters: ?1-?3 are run, batch and
    stream, then one per constant column (`constant`: the same value for the whole batch, bound
    once and named by every row), then the varying columns row by row. No per-row parsing (a
    JSON array read by json_each re-parses each row's array for every column it extracts)."""
    exprs: list[str | None] = []
    n = 3
    for is_constant in constant:
        if is_constant:
            n += 1
            exprs.append(f"?{n}")
        else:
            exprs.append(None)
    rows = []
    for _ in range(n_rows):
        row = ["?1", "?2", "?3"]
        for expr in exprs:
            if expr is None:
                n += 1
                expr = f"?{n}"
            row.append(expr)
        rows.append(f"({','.join(row)})")
    return f"INSERT INTO audit_records ({', '.join(_RECORD_COLUMNS)}) VALUES {','.join(rows)}"


#: SQLite page cache (KiB) of the one connection writing the batches (other connections keep
#: SQLite's 2 MiB): a batch's new pages and the key index's hot pages stay in memory instead of
#: spilling to the WAL mid-transaction and being read back (measured ~20% less CPU per row)
SQLITE_BATCH_CACHE_KIB = 32768


def _row_pieces(n: int, chunk: int) -> list[int]:
    """Row counts of the statements writing `n` rows: full chunks, then the tail in powers of two."""
    pieces = [chunk] * (n // chunk)
    tail = n % chunk
    bit = chunk >> 1
    while tail:
        if tail >= bit:
            pieces.append(bit)
            tail -= bit
        bit >>= 1
    return pieces


def _constant_value(column: t.Any) -> tuple[bool, t.Any]:
    """(True, value) when every value of a per-record column (list or Arrow array) is the same
    string or null; else (False, None)."""
    if hasattr(column, "type"):  # Arrow
        if not len(column):
            return False, None
        if column.null_count == len(column):
            return True, None
        if column.null_count or not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return False, None
        first = column[0].as_py()
        # first vs last settles varying columns (keys) at once; then one vectorized comparison
        # (no hashing: count_distinct over the keys cost ~13% of the audit thread)
        if column[len(column) - 1].as_py() != first or not pc.all(pc.equal(column, first)).as_py():
            return False, None
        return True, first
    if not column or not isinstance(column, list):
        return False, None
    first = column[0]
    if first is not None and not isinstance(first, str):
        return False, None
    if column.count(first) == len(column):
        return True, first
    return False, None


def _sqlite_max_variables(engine: sa.Engine) -> int:
    """SQLite's limit on bound parameters per statement (999 before 3.32, 32766 since)."""
    if engine.dialect.name != "sqlite":
        return 0
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        try:
            return dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except AttributeError:  # Python < 3.11
            return 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def utcnow() -> str:
    return datetime.datetime.now(tz=datetime.timezone.utc).isoformat()


def parse_time(text: str) -> datetime.datetime:
    """An audit timestamp (ISO-8601; naive ones taken as UTC) as an aware datetime."""
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def heartbeat_interval(stale_run_timeout_minutes: float | None) -> float:
    """Seconds between the heartbeats of a quiet run: a sixth of the stale-run timeout (a run
    misses several beats before it looks stale), at most MAX_HEARTBEAT_SECONDS, at least 1 s.
    Without a timeout here the run still beats: other hosts may have one."""
    if not stale_run_timeout_minutes or stale_run_timeout_minutes <= 0:
        return MAX_HEARTBEAT_SECONDS
    return max(1.0, min(MAX_HEARTBEAT_SECONDS, stale_run_timeout_minutes * 60 / 6))


def default_url(output_dir: str) -> str:
    return f"sqlite:///{Path(output_dir).resolve() / 'audit.sqlite'}"


def engine_url(url: str) -> str:
    """`postgresql://…` → the psycopg (3) driver when psycopg2 (SQLAlchemy's default) is absent."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> sa.Engine:
    url = engine_url(url)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            # 16 KiB pages for a new DB (an existing one keeps its size; must precede WAL mode):
            # measured ~17% less CPU per audit row inserted, half the WAL checkpoint CPU.
            cur.execute("PRAGMA page_size=16384")
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a killed process loses nothing committed (only an OS crash/power
            # loss could drop the last transactions); FULL would fsync every batch.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA wal_autocheckpoint=20000")  # fewer checkpoints during a load
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    return engine


class AuditLog:
    """Writes the audit trail of one run."""

    def __init__(
        self,
        url: str,
        run_id: str,
        *,
        output_dir: str = "",
        mirror: AuditHyper | None = None,
        stale_run_timeout_minutes: float | None = DEFAULT_STALE_RUN_TIMEOUT_MINUTES,
        heartbeat_seconds: float | None = None,
    ) -> None:
        """`stale_run_timeout_minutes`: another host's `running` run with no sign of life for
        this long is marked `abandoned` now (0/None: never by age). `heartbeat_seconds`: between
        this run's heartbeats while it is quiet (default derived from the timeout)."""
        self.url = url
        self.run_id = run_id
        self.stale_run_timeout_minutes = stale_run_timeout_minutes
        self.heartbeat_seconds = heartbeat_seconds or heartbeat_interval(stale_run_timeout_minutes)
        self._heartbeat: _Heartbeat | None = None
        self.mirror = mirror  # optional copy in _audit.hyper (audit_hyper.py)
        self.engine = make_engine(url)
        create_tables(self.engine, metadata)
        self._lock = threading.Lock()
        self._mirror_lock = threading.Lock()
        self._totals: dict[str, dict[str, int]] = {}
        self._paramstyle = self.engine.dialect.paramstyle
        marks = ", ".join(["?" if self._paramstyle == "qmark" else "%s"] * len(_RECORD_COLUMNS))
        self._insert_records_sql = (
            f"INSERT INTO audit_records ({', '.join(_RECORD_COLUMNS)}) VALUES ({marks})"
        )
        # SQLite: the INSERT texts by (which columns are constant, rows), kept so each is one
        # str object (its hash cached; the driver's statement cache is keyed by the text)
        self._values_inserts: dict[tuple[tuple[bool, ...], int], str] = {}
        self._sqlite_max_variables = _sqlite_max_variables(self.engine)
        self._batch_conn: sa.Connection | None = None  # SQLite: see _batch_connection
        self._copy_records_sql = f"COPY audit_records ({', '.join(_RECORD_COLUMNS)}) FROM STDIN"
        migrate(self.engine)
        self.abandoned_runs = mark_abandoned_runs(
            self.engine, found_by=run_id, stale_after_minutes=stale_run_timeout_minutes
        )
        started_at = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id, started_at=started_at, status="running",
                    streams="[]", inserted=0, updated=0, deleted=0, output_dir=output_dir,
                    process=process_identity(os.getpid()), heartbeat_at=started_at,
                )
            )
        self._alive_at = time.monotonic()  # when this run's heartbeat_at was last written
        # beating from here: copying a long history into _audit.hyper may take a while
        self._heartbeat = _Heartbeat(self, self.heartbeat_seconds)
        if mirror is not None:
            from target_tableau_hyper.audit_hyper import catch_up

            try:
                catch_up(mirror, self.engine)  # this run, the ones just abandoned, any copy behind
            except BaseException as exc:
                self._stop_heartbeat()
                # the target never gets this AuditLog to finish the run: record its failure here
                with self.engine.begin() as conn:
                    conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                        status="failed", ended_at=utcnow(),
                        error=f"copying the audit trail into _audit.hyper failed: {_first_line(exc)}",
                    ))
                raise

    def register_stream(self, stream: str, hyper_file: str, table_name: str) -> None:
        registered = False
        with self._lock, self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(run_streams.c.stream).where(
                    run_streams.c.run_id == self.run_id, run_streams.c.stream == stream
                )
            ).first()
            if not exists:
                conn.execute(
                    run_streams.insert().values(
                        run_id=self.run_id, stream=stream, hyper_file=hyper_file,
                        table_name=table_name, records=0, inserted=0, updated=0,
                        deleted=0, batches=0,
                    )
                )
                self._totals.setdefault(stream, {"inserted": 0, "updated": 0, "deleted": 0})
                conn.execute(
                    runs.update().where(runs.c.run_id == self.run_id).values(
                        streams=json.dumps(sorted(self._totals)), heartbeat_at=utcnow()
                    )
                )
                registered = True
        if registered:
            self._alive_at = time.monotonic()
            self._mirror_run()

    def record_batch(
        self,
        *,
        batch_id: str,
        stream: str,
        n_records: int,
        inserted: int,
        updated: int,
        deleted: int,
        first_line: int,
        last_line: int,
        columns: t.Sequence[t.Sequence],
    ) -> None:
        """One committed batch: its counters and its per-record rows, in one transaction.

        `columns` = (record_key, operation, source_updated_at, sync_token, line), each a list
        (or Arrow array) with one value per record.
        """
        sqlite = self.engine.dialect.name == "sqlite"
        if not sqlite:
            cols = [c.to_pylist() if hasattr(c, "to_pylist") else list(c) for c in columns]
        committed_at = utcnow()
        with self._lock:
            conn = self._batch_connection() if sqlite else self.engine.connect()
            try:
                with conn.begin():
                    # The run's row first: on PostgreSQL it stays locked until this commit, so another
                    # host's compare-and-set (mark_abandoned_runs) waits for it, sees the new heartbeat
                    # and leaves the run alone, however long the per-record insert below takes.
                    conn.execute(
                        runs.update().where(runs.c.run_id == self.run_id).values(
                            inserted=runs.c.inserted + inserted,
                            updated=runs.c.updated + updated,
                            deleted=runs.c.deleted + deleted,
                            **_alive_values(committed_at),
                        )
                    )
                    first_id = last_id = None
                    if n_records:
                        n = len(columns[0])
                        if sqlite:
                            self._insert_sqlite_values(conn, batch_id, stream, columns)
                        else:
                            self._insert_record_rows(conn, zip([self.run_id] * n, [batch_id] * n, [stream] * n, *cols))
                        if sqlite:
                            # inserted in order in one transaction: the batch's ids are consecutive
                            last_id = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar()
                            first_id = last_id - n + 1
                    conn.execute(
                        batches.insert().values(
                            batch_id=batch_id, run_id=self.run_id, stream=stream, committed_at=committed_at,
                            records=n_records, inserted=inserted, updated=updated, deleted=deleted,
                            first_line=first_line, last_line=last_line,
                            first_record_id=first_id, last_record_id=last_id,
                        )
                    )
                    conn.execute(
                        run_streams.update()
                        .where(run_streams.c.run_id == self.run_id, run_streams.c.stream == stream)
                        .values(
                            records=run_streams.c.records + n_records,
                            inserted=run_streams.c.inserted + inserted,
                            updated=run_streams.c.updated + updated,
                            deleted=run_streams.c.deleted + deleted,
                            batches=run_streams.c.batches + 1,
                        )
                    )
            except BaseException:
                if sqlite:
                    self._close_batch_connection()  # not reused after a failure
                raise
            finally:
                if not sqlite:
                    conn.close()
        self._alive_at = time.monotonic()
        if self.mirror is not None:
            # After the DB commit: the DB stays the reference (a copy left behind by a failure
            # here is caught up by the next run).
            from target_tableau_hyper.audit_hyper import run_values

            with self._mirror_lock:
                with self.engine.connect() as conn:
                    run = run_values(conn, self.run_id)
                self.mirror.write_batch(run, batch_id=batch_id, committed_at=committed_at, stream=stream,
                                        columns=columns)

    def _batch_connection(self) -> sa.Connection:
        """SQLite: the connection the batches are written on (under `_lock`), kept for the run
        with a SQLITE_BATCH_CACHE_KIB page cache, so the key index's hot pages stay cached from
        one batch to the next; no transaction stays open between batches."""
        if self._batch_conn is None:
            conn = self.engine.connect()
            conn.connection.driver_connection.execute(f"PRAGMA cache_size=-{int(SQLITE_BATCH_CACHE_KIB)}")
            self._batch_conn = conn
        return self._batch_conn

    def _close_batch_connection(self) -> None:
        conn, self._batch_conn = self._batch_conn, None
        if conn is not None:
            try:
                conn.invalidate()  # its DBAPI connection is discarded, not returned to the pool
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection: never mask the cause
                logger.debug("audit batch connection not closed cleanly", exc_info=True)

    def _mirror_run(self) -> None:
        """The run's row in _audit.hyper, after a DB commit. Read and written under one lock, so
        the last write holds every change committed before it (loader and main thread)."""
        if self.mirror is not None:
            from target_tableau_hyper.audit_hyper import run_values

            with self._mirror_lock:
                with self.engine.connect() as conn:
                    run = run_values(conn, self.run_id)
                self.mirror.write_runs([run])

    def _insert_record_rows(self, conn: sa.Connection, rows: t.Iterable[tuple]) -> None:
        """Bulk insert: COPY on PostgreSQL (psycopg); else one executemany."""
        if self.engine.dialect.driver == "psycopg":
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(self._copy_records_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        conn.exec_driver_sql(self._insert_records_sql, list(rows))

    def _insert_sqlite_values(self, conn: sa.Connection, batch_id: str, stream: str, columns: t.Sequence) -> None:
        """SQLite: the batch's rows as bound multi-row INSERTs of SQLITE_ROWS_PER_STATEMENT rows
        (values bound by the driver in C; each statement runs without the GIL, overlapping the
        next batch's load). run_id, batch_id, stream and the columns constant over the batch are
        bound once per statement. Rows go in message order in one transaction: the batch's ids
        stay consecutive."""
        constants = [_constant_value(c) for c in columns]
        varying = [c.to_pylist() if hasattr(c, "to_pylist") else c
                   for c, (same, _v) in zip(columns, constants) if not same]
        flags = tuple(same for same, _v in constants)
        # run_id, batch_id and stream are written on every row (bound once per statement), so
        # SQL on audit_records keeps its meaning for every reader (~15% of the statement's CPU)
        head = (self.run_id, batch_id, stream, *(v for same, v in constants if same))
        width = len(varying)
        flat = list(itertools.chain.from_iterable(zip(*varying))) if width else []
        n = len(columns[0])
        cursor = conn.connection.driver_connection.cursor()
        try:
            start = 0
            for rows in _row_pieces(n, self._sqlite_rows_per_statement(width)):
                sql = self._values_inserts.get((flags, rows))
                if sql is None:
                    sql = self._values_inserts[(flags, rows)] = _sqlite_values_insert(flags, rows)
                cursor.execute(sql, head + tuple(flat[start * width:(start + rows) * width]))
                start += rows
        finally:
            cursor.close()

    def _sqlite_rows_per_statement(self, width: int) -> int:
        """Rows per statement within SQLite's bound-parameter limit (32766 since 3.32)."""
        rows = SQLITE_ROWS_PER_STATEMENT
        while rows > 1 and 8 + rows * width > self._sqlite_max_variables:
            rows >>= 1
        return rows

    def record_state(self, state: dict) -> None:
        text = json.dumps(state, sort_keys=True, default=str)
        emitted_at = utcnow()
        with self._lock, self.engine.begin() as conn:
            conn.execute(states.insert().values(run_id=self.run_id, emitted_at=emitted_at, state=text))
            conn.execute(runs.update().where(runs.c.run_id == self.run_id).values(
                last_state=text, **_alive_values(emitted_at)))
        self._alive_at = time.monotonic()
        self._mirror_run()

    def finish(self, *, error: str | None = None, status: str | None = None) -> None:
        """End of the run: `succeeded`, `failed` (error) or the given status (`interrupted`)."""
        self._stop_heartbeat()
        with self._lock, self.engine.begin() as conn:
            conn.execute(
                runs.update().where(runs.c.run_id == self.run_id).values(
                    ended_at=utcnow(),
                    status=status or ("failed" if error else "succeeded"),
                    error=error,
                )
            )
        self._mirror_run()

    def close(self) -> None:
        self._stop_heartbeat()
        with self._lock:
            self._close_batch_connection()
        self.engine.dispose()

    # --- heartbeat (a quiet run stays visibly alive to other hosts) -------------------------------
    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def beat(self) -> None:
        """Write this run's heartbeat unless a sign of life was written within half an interval
        or a batch is being written now (it writes one). Runs on the heartbeat thread; a failure
        is logged, never raised (the run goes on; the next beat tries again). If another host
        marked this living run `abandoned` (heartbeats failed or clocks disagree for longer than
        its timeout), it is marked `running` again."""
        if time.monotonic() - self._alive_at < self.heartbeat_seconds / 2 or self._lock.locked():
            return
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                # a write first (not `_alive_values` after a read of the status): a SQLite
                # transaction that reads before writing can fail to upgrade its WAL snapshot
                beat = conn.execute(
                    runs.update().where(runs.c.run_id == self.run_id, runs.c.status == "running")
                    .values(heartbeat_at=now)
                )
                revived = None
                if not beat.rowcount:
                    revived = conn.execute(
                        sa.select(runs.c.error).where(runs.c.run_id == self.run_id, runs.c.status == "abandoned")
                    ).first()
                    if revived is not None:
                        conn.execute(
                            runs.update().where(runs.c.run_id == self.run_id, runs.c.status == "abandoned")
                            .values(status="running", ended_at=None, error=None, heartbeat_at=now)
                        )
            self._alive_at = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - a heartbeat must never stop the run
            logger.warning("Audit heartbeat of run %s not written (%s); next try in %.0f s",
                           self.run_id, _first_line(exc), self.heartbeat_seconds)
            return
        if revived is not None:
            logger.warning("Run %s had been marked abandoned while alive (%s): marked running again",
                           self.run_id, revived.error)


def _alive_values(at: str) -> dict:
    """UPDATE values of a run that shows a sign of life at `at` (a batch, a state): its heartbeat,
    and `running` again if another host wrongly marked it `abandoned` meanwhile (a busy run
    writes no separate heartbeat, so the revive cannot wait for one)."""
    abandoned = runs.c.status == "abandoned"
    return {
        "heartbeat_at": at,
        "status": sa.case((abandoned, "running"), else_=runs.c.status),
        "ended_at": sa.case((abandoned, sa.null()), else_=runs.c.ended_at),
        "error": sa.case((abandoned, sa.null()), else_=runs.c.error),
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class _Heartbeat:
    """Daemon thread calling `AuditLog.beat` every `interval` seconds until stopped (run end,
    close) or the AuditLog is gone (it holds only a weak reference: an AuditLog dropped without
    close does not keep a thread writing). Its own connection and transaction: the loader and
    audit-writer threads never wait for it, and it skips its beat while they write."""

    def __init__(self, log: AuditLog, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(weakref.ref(log), interval, self._stop),
            name=f"audit-heartbeat-{log.run_id}", daemon=True,
        )
        self._thread.start()

    @staticmethod
    def _run(log_ref: weakref.ref, interval: float, stop: threading.Event) -> None:
        while not stop.wait(interval):
            log = log_ref()
            if log is None:
                return
            log.beat()
            del log

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop and wait for a beat in progress (bounded: SQLite's busy timeout)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=35)


def _record_indexes(engine: sa.Engine) -> None:
    """The record indexes of this version in a DB made by an earlier one. SQLite: (record_key)
    replaces (stream, record_key) (rows there no longer hold their stream), the batches get their
    id-range index, the (run_id, stream) index is dropped (each insert paid for it). Other
    databases: the (run_id, stream) index (ids not consecutive per batch). Idempotent; two runs
    migrating at once both succeed."""
    have = {ix["name"] for ix in sa.inspect(engine).get_indexes(records.name)}
    if engine.dialect.name == "sqlite":
        # SQLite serializes these; IF [NOT] EXISTS makes a second migrating run a no-op
        statements = [f"DROP INDEX IF EXISTS {name}" for name in (_RUN_INDEX, _STREAM_KEY_INDEX) if name in have]
        if _KEY_INDEX not in have:
            statements.append(f"CREATE INDEX IF NOT EXISTS {_KEY_INDEX} ON {records.name} (record_key)")
        if _BATCH_RANGE_INDEX not in {ix["name"] for ix in sa.inspect(engine).get_indexes(batches.name)}:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {_BATCH_RANGE_INDEX} ON {batches.name} (first_record_id)")
        if statements:
            with engine.begin() as conn:
                for sql in statements:
                    conn.exec_driver_sql(sql)
    elif _RUN_INDEX not in have:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {_RUN_INDEX} ON {records.name} (run_id, stream)")


#: SQLite: every record row with its run, batch, stream and commit time filled in, for SQL
#: users (Tableau, sqlite3); the code reads through run_record_rows / record_history instead
FULL_VIEW = "audit_records_full"
_FULL_VIEW_SQL = f"""CREATE VIEW IF NOT EXISTS {FULL_VIEW} AS
SELECT r.id, b.run_id, b.batch_id, b.stream, r.record_key, r.operation, r.source_updated_at,
       r.sync_token, r.line, b.committed_at
FROM audit_records r JOIN audit_batches b ON b.batch_id = CASE WHEN r.batch_id != '' THEN r.batch_id
  ELSE (SELECT o.batch_id FROM audit_batches o WHERE o.first_record_id <= r.id
        ORDER BY o.first_record_id DESC LIMIT 1) END"""


def migrate(engine: sa.Engine) -> None:
    """Bring an audit DB made by an earlier version to this one's schema, in place (by a run
    starting, or by the `audit` command on a DB no run of this version opened)."""
    add_missing_columns(engine)
    _record_indexes(engine)
    if engine.dialect.name == "sqlite" and not sa.inspect(engine).has_table(FULL_VIEW):
        with engine.begin() as conn:
            conn.exec_driver_sql(_FULL_VIEW_SQL)


# --- runs that never ended (kill -9, machine lost) ---------------------------------------------
def process_identity(pid: int) -> str | None:
    """`host:pid:start` of a live process (start = its start time in clock ticks, Linux), so a
    reused pid is not taken for the process that wrote a run."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            start = fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        start = "?"
    return f"{socket.gethostname()}:{pid}:{start}"


def _process_gone(process: str | None) -> bool:
    """True when `process` (see process_identity) ran on this host and no longer exists."""
    if not process or process.count(":") < 2:
        return False
    host, pid, _start = process.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's run (shared PostgreSQL): it may still be going
    current = process_identity(int(pid))
    if current is None:
        return True
    return not process.endswith(":?") and not current.endswith(":?") and current != process


def _host(process: str | None) -> str | None:
    """The host part of a `process` value (see process_identity); None when not recorded."""
    if not process or process.count(":") < 2:
        return None
    return process.rsplit(":", 2)[0]


def _last_sign_of_life(conn: sa.Connection, run: t.Any) -> str:
    """A running run's heartbeat_at, else (written by an earlier version) the newest of its
    start, last batch committed and last state emitted."""
    if run.heartbeat_at:
        return max(run.heartbeat_at, run.started_at)
    last_batch = conn.execute(
        sa.select(sa.func.max(batches.c.committed_at)).where(batches.c.run_id == run.run_id)
    ).scalar()
    last_state = conn.execute(
        sa.select(sa.func.max(states.c.emitted_at)).where(states.c.run_id == run.run_id)
    ).scalar()
    return max(v for v in (run.started_at, last_batch, last_state) if v)


def mark_abandoned_runs(
    engine: sa.Engine,
    *,
    found_by: str,
    stale_after_minutes: float | None = DEFAULT_STALE_RUN_TIMEOUT_MINUTES,
) -> list[str]:
    """Runs left `running` that are not going any more: status `abandoned`, ended_at = their
    last sign of life. Returns their ids.

    - a run of this host whose process is gone (checked, not guessed);
    - a run of another host (or of unknown host: older versions) whose last sign of life is
      older than `stale_after_minutes` (0/None: never by age). A live run writes its heartbeat
      every few seconds to a minute, so only a dead or cut-off one gets that old. Times are
      each host's clock: the timeout must exceed any clock difference between hosts.
    A run of this host whose process still exists is never abandoned, however quiet.
    """
    host = socket.gethostname()
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    found_at = now.isoformat()
    max_age = datetime.timedelta(minutes=stale_after_minutes) if stale_after_minutes and stale_after_minutes > 0 else None
    with engine.connect() as conn:
        candidates = conn.execute(
            sa.select(runs.c.run_id, runs.c.started_at, runs.c.process, runs.c.heartbeat_at)
            .where(runs.c.status == "running")
        ).all()
        found: list[tuple[t.Any, str, str]] = []  # (run, last sign of life, error)
        for run in candidates:
            if _process_gone(run.process):
                found.append((run, _last_sign_of_life(conn, run),
                              f"process {run.process} ended without finishing the run "
                              f"(killed or lost; found by run {found_by} at {found_at})"))
            elif max_age is not None and _host(run.process) != host:
                last = _last_sign_of_life(conn, run)
                try:
                    stale = now - parse_time(last) > max_age
                except ValueError:
                    stale = False  # unreadable time: leave it alone
                if stale:
                    found.append((run, last,
                                  f"process {run.process or '(not recorded)'} gave no sign of life since {last} "
                                  f"(no heartbeat for over {stale_after_minutes:g} min: killed, lost or cut off "
                                  f"from the audit DB; found by run {found_by} on {host} at {found_at})"))
    abandoned = []
    for run, last, error in found:
        # one short write transaction each, on the row as it is now: a run that beat since it
        # was read (or, older versions, committed a batch) is left running
        cond = [runs.c.run_id == run.run_id, runs.c.status == "running"]
        if run.heartbeat_at is not None:
            cond.append(runs.c.heartbeat_at == run.heartbeat_at)
        else:
            cond += [
                runs.c.heartbeat_at.is_(None),
                ~sa.exists().where(batches.c.run_id == run.run_id, batches.c.committed_at > last),
                ~sa.exists().where(states.c.run_id == run.run_id, states.c.emitted_at > last),
            ]
        with engine.begin() as conn:
            done = conn.execute(runs.update().where(*cond).values(status="abandoned", ended_at=last, error=error))
        if done.rowcount:
            abandoned.append(run.run_id)
    return abandoned


def add_missing_columns(engine: sa.Engine) -> None:
    """Audit DBs made by an earlier version lack newer nullable columns of audit_runs."""
    have = {c["name"] for c in sa.inspect(engine).get_columns(runs.name)}
    missing = [c for c in runs.columns if c.name not in have]
    for column in missing:
        kind = column.type.compile(dialect=engine.dialect)
        # another run (host) starting at the same moment may add it first
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE {runs.name} ADD COLUMN IF NOT EXISTS {column.name} {kind}")
            continue
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE {runs.name} ADD COLUMN {column.name} {kind}")
        except sa.exc.OperationalError:
            if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(runs.name)}:
                raise


# --- reading (CLI, publishing) ---------------------------------------------------------------
def run_record_rows(conn: sa.Connection, run_id: str, stream: str | None = None, *, ordered: bool = True) -> t.Any:
    """SELECT of the audit_records rows written by a run (optionally one stream), in id order
    (= message order within a batch, batches in commit order) unless `ordered` is false.

    SQLite: each batch's id range (audit_batches: index on run_id, then rowid ranges), so no
    index on audit_records (run_id, stream) is needed. Batches without a range (none are
    written on SQLite; kept for safety) are matched by batch_id. Other databases (ids not
    consecutive per batch): the (run_id, stream) index.
    """
    if conn.dialect.name != "sqlite":
        query = sa.select(records).where(records.c.run_id == run_id)
        if stream is not None:
            query = query.where(records.c.stream == stream)
        return query.order_by(records.c.id) if ordered else query
    b = batches.alias("b")
    cond = [b.c.run_id == run_id]
    if stream is not None:
        cond.append(b.c.stream == stream)
    r = records.c
    # the rows of this version leave run_id, batch_id and stream empty: the batch's values
    query: t.Any = (
        sa.select(r.id, b.c.run_id.label("run_id"), b.c.batch_id.label("batch_id"), b.c.stream.label("stream"),
                  r.record_key, r.operation, r.source_updated_at, r.sync_token, r.line)
        .select_from(b.join(records, r.id.between(b.c.first_record_id, b.c.last_record_id)))
        .where(*cond, b.c.first_record_id.is_not(None))
    )
    no_range = conn.execute(
        sa.select(b.c.batch_id).where(*cond, b.c.first_record_id.is_(None), b.c.records > 0).limit(1)
    ).first()
    if no_range is not None:
        legacy = sa.select(records).where(
            records.c.run_id == run_id,
            records.c.batch_id.in_(sa.select(b.c.batch_id).where(*cond, b.c.first_record_id.is_(None))),
        )
        query = sa.union_all(query, legacy)
        if ordered:
            return sa.select(query.subquery()).order_by(sa.text("id"))
        return query
    return query.order_by(records.c.id) if ordered else query


def record_history(conn: sa.Connection, stream: str, keys: t.Sequence[str], limit: int) -> list[dict]:
    """Rows of one record (any of `keys`, its possible JSON texts) in a stream, newest first:
    run_id, batch_id, operation, source_updated_at, sync_token, line, committed_at, record_key.

    SQLite: the (record_key) index, then each row's batch (its own batch_id when an earlier
    version wrote one, else the batch whose id range holds it: index on first_record_id), then
    the batch's stream. Other databases: the (stream, record_key) index."""
    r, b = records.c, batches.c
    if conn.dialect.name == "sqlite":
        o = batches.alias("owner").c
        owner = (
            sa.select(o.batch_id).where(o.first_record_id <= r.id)
            .order_by(o.first_record_id.desc()).limit(1).scalar_subquery()
        )
        batch_of_row = sa.case((r.batch_id != "", r.batch_id), else_=owner)
        join, where = b.batch_id == batch_of_row, [b.stream == stream]
    else:
        join, where = b.batch_id == r.batch_id, [r.stream == stream]
    query = (
        sa.select(b.run_id, b.batch_id, r.operation, r.source_updated_at, r.sync_token, r.line,
                  b.committed_at, r.record_key)
        .select_from(records.join(batches, join))
        .where(r.record_key.in_(list(keys)), *where)
        .order_by(r.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def changed_keys(engine: sa.Engine, run_id: str, stream: str) -> dict[str, str]:
    """{record_key JSON: last operation} of the keys a run inserted/updated/deleted in a stream
    (for incremental publishing). 'parent_delete' keys are parent keys (x-parent-key order)."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for row in conn.execute(run_record_rows(conn, run_id, stream)):
            if row.operation in ("insert", "update", "delete", "parent_delete"):
                out[row.record_key] = row.operation
    return out
