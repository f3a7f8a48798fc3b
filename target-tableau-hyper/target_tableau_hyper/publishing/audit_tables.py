"""Audit tables of the publishing step, in the same database as the target core's audit trail.

- `tableau_publish_runs`: one row per (datasource, stream, run) waiting to be published. A row stays
  `pending` until a publish covering it succeeds, then it is `published` (with the publish id).
  The next publish of that datasource covers every run still pending, so a failed publish is
  retried with a delta of all runs since the last successful one.
- `tableau_publishes`: one row per publish attempt: datasource, mode, request id, job id, rows and
  bytes sent, outcome (`running` → `succeeded` | `failed` | `skipped`), error, duration, and the
  column signature that was published (compared to decide whether incremental is still possible).
- `tableau_refreshes`: one row per refresh (datasource or workbook): method, job id, outcome.
- `tableau_stream_keys`: the key columns of each stream as last seen by the target (lets a later
  run publish a stream it did not receive, e.g. to retry a pending publish).
- `tableau_webhook_events`: every webhook delivery, accepted or rejected, with the reason; the
  unique `dedup_key` makes replays detectable across restarts.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

import sqlalchemy as sa

from target_tableau_hyper.sql_tables import create_tables

metadata = sa.MetaData()

publish_runs = sa.Table(
    "tableau_publish_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("datasource_name", sa.String, nullable=False),
    sa.Column("stream", sa.String, nullable=False),
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False, default="pending"),  # pending | published
    sa.Column("publish_id", sa.Integer, nullable=True),
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("datasource_name", "stream", "run_id", name="uq_tableau_publish_runs"),
)

publishes = sa.Table(
    "tableau_publishes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("datasource_name", sa.String, nullable=False),
    sa.Column("datasource_id", sa.String, nullable=True),
    sa.Column("project", sa.String, nullable=True),
    sa.Column("streams", sa.Text, nullable=False),  # JSON list
    sa.Column("mode", sa.String, nullable=False),  # overwrite | incremental
    sa.Column("reason", sa.Text, nullable=True),  # why this mode
    sa.Column("request_id", sa.String, nullable=True),
    sa.Column("covered_run_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("job_id", sa.String, nullable=True),
    sa.Column("rows_upserted", sa.BigInteger, nullable=True),
    sa.Column("rows_deleted", sa.BigInteger, nullable=True),
    sa.Column("file_bytes", sa.BigInteger, nullable=True),  # size of the uploaded .hyper
    sa.Column("bytes_sent", sa.BigInteger, nullable=True),  # all request bodies, retries included
    sa.Column("outcome", sa.String, nullable=False),  # running | succeeded | failed | skipped
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("error_code", sa.String, nullable=True),
    sa.Column("schema_signature", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("duration_seconds", sa.Float, nullable=True),
)

refreshes = sa.Table(
    "tableau_refreshes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String, nullable=True),
    sa.Column("trigger", sa.String, nullable=False),  # publish | webhook
    sa.Column("target_kind", sa.String, nullable=False),  # datasource | workbook
    sa.Column("target_name", sa.String, nullable=False),
    sa.Column("target_id", sa.String, nullable=True),
    sa.Column("method", sa.String, nullable=False),  # datasource | task | workbook
    sa.Column("job_id", sa.String, nullable=True),
    sa.Column("outcome", sa.String, nullable=False),  # running | succeeded | failed | queued | skipped
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("duration_seconds", sa.Float, nullable=True),
)

webhook_events = sa.Table(
    "tableau_webhook_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String, nullable=True, unique=True),  # only accepted events hold it
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event_type", sa.String, nullable=True),
    sa.Column("resource", sa.String, nullable=True),
    sa.Column("resource_name", sa.String, nullable=True),
    sa.Column("resource_luid", sa.String, nullable=True),
    sa.Column("site_luid", sa.String, nullable=True),
    sa.Column("created_at", sa.String, nullable=True),
    sa.Column("outcome", sa.String, nullable=False),  # accepted | rejected
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("confirmation", sa.Text, nullable=True),
    sa.Column("action", sa.Text, nullable=True),
    sa.Column("remote_addr", sa.String, nullable=True),
)


stream_keys = sa.Table(
    "tableau_stream_keys",
    metadata,
    sa.Column("stream", sa.String, primary_key=True),
    sa.Column("key_columns", sa.Text, nullable=False),  # JSON list
    sa.Column("scope_columns", sa.Text, nullable=False),  # JSON list
    sa.Column("replace_scope", sa.Boolean, nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)


def now() -> datetime:
    return datetime.now(timezone.utc)


def make_engine(url: str) -> sa.Engine:
    """The core's engine (same SQLite pragmas: WAL, busy timeout) with the publishing tables created."""
    from target_tableau_hyper.audit import make_engine as core_engine

    engine = core_engine(url)
    create_tables(engine, metadata)
    return engine


def queue_runs(engine: sa.Engine, datasource_name: str, stream: str, run_ids: Iterable[str]) -> None:
    with engine.begin() as conn:
        existing = {
            row.run_id
            for row in conn.execute(
                sa.select(publish_runs.c.run_id).where(
                    publish_runs.c.datasource_name == datasource_name, publish_runs.c.stream == stream
                )
            )
        }
        for run_id in run_ids:
            if run_id not in existing:
                conn.execute(
                    publish_runs.insert().values(
                        datasource_name=datasource_name, stream=stream, run_id=run_id, status="pending", queued_at=now()
                    )
                )


def pending_runs(engine: sa.Engine, datasource_name: str, stream: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(publish_runs.c.run_id)
            .where(
                publish_runs.c.datasource_name == datasource_name,
                publish_runs.c.stream == stream,
                publish_runs.c.status == "pending",
            )
            .order_by(publish_runs.c.id)
        )
        return [row.run_id for row in rows]


def mark_published(engine: sa.Engine, datasource_name: str, stream: str, run_ids: Iterable[str], publish_id: int) -> None:
    run_ids = list(run_ids)
    if not run_ids:
        return
    with engine.begin() as conn:
        conn.execute(
            publish_runs.update()
            .where(
                publish_runs.c.datasource_name == datasource_name,
                publish_runs.c.stream == stream,
                publish_runs.c.run_id.in_(run_ids),
            )
            .values(status="published", publish_id=publish_id, published_at=now())
        )


def start_publish(engine: sa.Engine, **values: Any) -> int:
    for key in ("streams", "covered_run_ids"):
        if not isinstance(values.get(key), str):
            values[key] = json.dumps(values.get(key) or [])
    values.setdefault("outcome", "running")
    values.setdefault("started_at", now())
    with engine.begin() as conn:
        return conn.execute(publishes.insert().values(**values)).inserted_primary_key[0]


def finish(engine: sa.Engine, table: sa.Table, row_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        started = conn.execute(sa.select(table.c.started_at).where(table.c.id == row_id)).scalar_one()
        finished = now()
        if started.tzinfo is None:  # SQLite returns naive datetimes
            started = started.replace(tzinfo=timezone.utc)
        values.setdefault("finished_at", finished)
        values.setdefault("duration_seconds", (finished - started).total_seconds())
        conn.execute(table.update().where(table.c.id == row_id).values(**values))


def last_successful_publish(engine: sa.Engine, datasource_name: str) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(publishes)
            .where(publishes.c.datasource_name == datasource_name, publishes.c.outcome == "succeeded")
            .order_by(publishes.c.id.desc())
            .limit(1)
        ).first()


def start_refresh(engine: sa.Engine, **values: Any) -> int:
    values.setdefault("outcome", "running")
    values.setdefault("started_at", now())
    with engine.begin() as conn:
        return conn.execute(refreshes.insert().values(**values)).inserted_primary_key[0]
