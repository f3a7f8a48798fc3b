"""Durable queue of QBO change events (SQLAlchemy: SQLite file by default, PostgreSQL for shared setups).

Tables (created on first use):

* `qbo_webhook_events` — one row per distinct change: `seq` (order of arrival), `dedup_key`
  (unique: sha256 of realm + entity + id + operation + lastUpdated), the event fields,
  `received_at`, and once a run that covered it succeeded `done_at` + `run_id`. Rows are written and
  committed *before* QBO gets its 200, so an acknowledged event survives any crash. Done rows are
  kept `webhook_retention_days` so a late retry or a replay of an old delivery is recognised.
* `qbo_webhook_runs` — one row per triggered run: `started_at`, `finished_at`, `max_seq` (the
  events it covers: every waiting row with `seq ≤ max_seq`), `events`, `exit_code`, `status`
  (`running`, `succeeded`, `failed`, `interrupted` = the receiver died during the run), and the
  `host` + `pid` of the command, so a restarted receiver waits until a run its predecessor left
  behind has exited before it starts one (never two runs at once, even across a crash).

A run covers a *watermark*, not a list: events that arrive while it runs have a larger `seq` and
stay waiting for the follow-up run, so nothing that the run may have missed is marked done.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tap_quickbooks_online.sql_tables import create_tables
from tap_quickbooks_online.webhooks.events import ChangeEvent

metadata = sa.MetaData()

events_table = sa.Table(
    "qbo_webhook_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("realm_id", sa.String(128), nullable=False),
    sa.Column("entity", sa.String(128), nullable=False),
    sa.Column("entity_id", sa.String(128), nullable=False),
    sa.Column("operation", sa.String(128), nullable=False),
    sa.Column("last_updated", sa.String(40), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float, nullable=True),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Index("ix_qbo_webhook_events_waiting", "done_at", "seq"),
)

runs_table = sa.Table(
    "qbo_webhook_runs", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("max_seq", sa.Integer, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("host", sa.String(255), nullable=True),  # where the command runs, and its process id:
    sa.Column("pid", sa.Integer, nullable=True),  # a restarted receiver waits for an orphaned run
)


@dataclasses.dataclass(frozen=True)
class EnqueueResult:
    queued: int
    duplicates: int


@dataclasses.dataclass(frozen=True)
class Batch:
    """What one run covers: waiting events up to `max_seq`, and which entities of which realms changed."""

    max_seq: int
    events: int
    changes: dict[str, list[str]]


def make_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # WAL: readers never block the writer; FULL: a commit survives power loss
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _insert_ignoring_duplicates(dialect: str):
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # other servers: the pre-check above is the de-duplication
        return events_table.insert()
    return insert(events_table).on_conflict_do_nothing(index_elements=["dedup_key"])


class EventQueue:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        create_tables(engine, metadata)

    @classmethod
    def from_url(cls, url: str) -> EventQueue:
        return cls(make_engine(url))

    # --- receiving ---------------------------------------------------------------------------
    def enqueue(self, events: list[ChangeEvent], now: float | None = None) -> EnqueueResult:
        """Store the events not seen before (committed on return); count the rest as duplicates."""
        now = time.time() if now is None else now
        unique: dict[str, ChangeEvent] = {}
        for event in events:
            unique.setdefault(event.dedup_key, event)
        keys = list(unique)
        with self.engine.begin() as conn:
            known: set[str] = set()
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                known.update(conn.scalars(sa.select(events_table.c.dedup_key)
                                          .where(events_table.c.dedup_key.in_(chunk))))
            rows = [{"dedup_key": k, "realm_id": e.realm_id, "entity": e.entity, "entity_id": e.entity_id,
                     "operation": e.operation, "last_updated": e.last_updated, "received_at": now}
                    for k, e in unique.items() if k not in known]
            inserted = 0
            if rows:
                # The rows really inserted (a concurrent delivery of the same change may have won
                # between the check above and this insert): RETURNING where the database has it,
                # as executemany rowcounts are not reliable across drivers.
                statement = _insert_ignoring_duplicates(conn.dialect.name)
                if conn.dialect.insert_executemany_returning and conn.dialect.name in ("sqlite", "postgresql"):
                    inserted = len(conn.execute(statement.returning(events_table.c.seq), rows).all())
                else:
                    for row in rows:
                        inserted += max(conn.execute(statement, row).rowcount, 0)
        return EnqueueResult(queued=inserted, duplicates=len(events) - inserted)

    # --- running -------------------------------------------------------------------------------
    def waiting_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).where(events_table.c.done_at.is_(None))) or 0

    def next_batch(self) -> Batch | None:
        """Everything waiting now, or None when nothing waits."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(events_table.c.seq, events_table.c.realm_id, events_table.c.entity)
                                .where(events_table.c.done_at.is_(None))).all()
        if not rows:
            return None
        changes: dict[str, set[str]] = defaultdict(set)
        for _seq, realm, entity in rows:
            changes[realm].add(entity)
        return Batch(max_seq=max(r[0] for r in rows), events=len(rows),
                     changes={realm: sorted(ents) for realm, ents in sorted(changes.items())})

    def start_run(self, batch: Batch, now: float | None = None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(runs_table.insert().values(
                started_at=time.time() if now is None else now, max_seq=batch.max_seq, events=batch.events,
                status="running"))
            return int(result.inserted_primary_key[0])

    def finish_run(self, run_id: int, batch: Batch, exit_code: int | None, now: float | None = None) -> int:
        """Record the outcome; on success mark the batch's events done. Returns the events marked done."""
        now = time.time() if now is None else now
        ok = exit_code == 0
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(
                finished_at=now, exit_code=exit_code, status="succeeded" if ok else "failed"))
            if not ok:
                return 0
            result = conn.execute(events_table.update()
                                  .where(events_table.c.done_at.is_(None), events_table.c.seq <= batch.max_seq)
                                  .values(done_at=now, run_id=run_id))
            return result.rowcount

    def set_run_process(self, run_id: int, host: str, pid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(host=host, pid=pid))

    def unfinished_runs(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(runs_table)
                                                           .where(runs_table.c.status == "running"))]

    def mark_interrupted_runs(self) -> int:
        """Runs left `running` by a receiver that died: their events are still waiting."""
        with self.engine.begin() as conn:
            return conn.execute(runs_table.update().where(runs_table.c.status == "running")
                                .values(status="interrupted", finished_at=time.time())).rowcount

    def purge_done(self, older_than_s: float, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - older_than_s
        with self.engine.begin() as conn:
            return conn.execute(events_table.delete().where(events_table.c.done_at.is_not(None),
                                                            events_table.c.done_at < cutoff)).rowcount

    # --- inspection (health endpoint, tests, bench) ------------------------------------------------
    def runs(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(runs_table).order_by(runs_table.c.run_id))]

    def events(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(events_table).order_by(events_table.c.seq))]
