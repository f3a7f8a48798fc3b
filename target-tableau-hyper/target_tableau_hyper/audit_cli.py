"""`target-tableau-hyper audit …`: query the audit trail.

  audit runs [--limit N]                      recent runs with their counts (and, for running
                                              ones, their last sign of life: heartbeat_at)
  audit run RUN_ID                            what a run did (per stream counts, batches, state)
  audit record --stream S --key K [--limit N] history of one record (newest first)

The DB is `--db URL`, else `--config FILE`'s `audit_db_url` (or its output_dir's audit.sqlite),
else `$TARGET_TABLEAU_HYPER_AUDIT_DB_URL`, else `sqlite:///output/audit.sqlite`.
K is the key as a JSON array (`'["9130","145"]'`) or comma-separated values (`9130,145`).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import sys
import typing as t

import sqlalchemy as sa

from target_tableau_hyper import audit
from target_tableau_hyper.sql_tables import create_tables


def _db_url(args: argparse.Namespace) -> str:
    if args.db:
        return args.db
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            cfg = json.load(fh)
        return cfg.get("audit_db_url") or audit.default_url(cfg.get("output_dir") or "output")
    # Under `meltano invoke target-tableau-hyper:audit` the settings arrive as environment variables.
    env = os.environ
    return env.get("TARGET_TABLEAU_HYPER_AUDIT_DB_URL") or audit.default_url(
        env.get("TARGET_TABLEAU_HYPER_OUTPUT_DIR") or "output"
    )


def _key_candidates(key: str) -> list[str]:
    """JSON texts a key argument may be stored as (values are strings or integers)."""
    key = key.strip()
    if key.startswith("["):
        return [json.dumps(json.loads(key), separators=(",", ":"), ensure_ascii=False)]
    parts = [p.strip() for p in key.split(",")]
    options = []
    for part in parts:
        opts: list[t.Any] = [part]
        try:
            opts.append(int(part))
        except ValueError:
            pass
        options.append(opts)
    return [
        json.dumps(list(combo), separators=(",", ":"), ensure_ascii=False)
        for combo in itertools.product(*options)
    ]


def _print(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def _age(timestamp: str | None) -> str:
    """`12 min ago` (hours past 2 h, days past 2 days), for a running run's last sign of life."""
    if not timestamp:
        return ""
    try:
        seconds = (datetime.datetime.now(tz=datetime.timezone.utc) - audit.parse_time(timestamp)).total_seconds()
    except ValueError:
        return ""
    minutes = max(0, int(seconds // 60))
    if minutes < 120:
        return f"{minutes} min ago"
    return f"{minutes // 60} h ago" if minutes < 48 * 60 else f"{minutes // (24 * 60)} days ago"


def _last_sign_of_life(run: dict) -> str:
    return f"{run['heartbeat_at']} ({_age(run['heartbeat_at'])})" if run.get("heartbeat_at") else ""


def cmd_runs(engine: sa.Engine, args: argparse.Namespace) -> int:
    with engine.connect() as conn:
        q = sa.select(
            audit.runs.c.run_id, audit.runs.c.started_at, audit.runs.c.ended_at,
            audit.runs.c.status, audit.runs.c.streams, audit.runs.c.inserted,
            audit.runs.c.updated, audit.runs.c.deleted, audit.runs.c.heartbeat_at,
        ).order_by(audit.runs.c.started_at.desc()).limit(args.limit)
        rows = [dict(r._mapping) for r in conn.execute(q)]
    if not args.json:
        # a running run's last sign of life (a quiet or dead one shows its age); ended ones: blank
        for r in rows:
            r["heartbeat_at"] = _last_sign_of_life(r) if r["status"] == "running" else ""
    _print(rows, args.json)
    return 0


def cmd_run(engine: sa.Engine, args: argparse.Namespace) -> int:
    with engine.connect() as conn:
        run = conn.execute(sa.select(audit.runs).where(audit.runs.c.run_id == args.run_id)).first()
        if run is None:
            print(f"no run {args.run_id!r} in the audit DB", file=sys.stderr)
            return 1
        streams = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(audit.run_streams).where(audit.run_streams.c.run_id == args.run_id)
                .order_by(audit.run_streams.c.stream)
            )
        ]
        n_states = conn.execute(
            sa.select(sa.func.count()).select_from(audit.states).where(audit.states.c.run_id == args.run_id)
        ).scalar()
        extra = {}
        insp = sa.inspect(conn)
        # the publishing step's tables (publishing/audit_tables.py), when it ran on this DB
        for table in ("tableau_publish_runs", "tableau_publishes", "tableau_refreshes"):
            if insp.has_table(table):
                tbl = sa.Table(table, sa.MetaData(), autoload_with=conn)
                if "run_id" in tbl.c:
                    extra[table] = [
                        dict(r._mapping)
                        for r in conn.execute(sa.select(tbl).where(tbl.c.run_id == args.run_id))
                    ]
    report = {
        "run": dict(run._mapping),
        "streams": streams,
        "states_emitted": n_states,
        **extra,
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    r = report["run"]
    print(f"run {r['run_id']}  {r['status']}  {r['started_at']} → {r['ended_at']}")
    if r["status"] == "running" and r.get("heartbeat_at"):
        print(f"last sign of life: {_last_sign_of_life(r)}")
    if r.get("error"):
        print(f"error: {r['error']}")
    print(f"totals: inserted {r['inserted']}, updated {r['updated']}, deleted {r['deleted']}")
    print(f"last state: {r['last_state']}  ({n_states} state messages emitted)")
    _print(streams, False)
    for name, rows in extra.items():
        print(f"\n{name}:")
        _print(rows, False)
    return 0


def cmd_record(engine: sa.Engine, args: argparse.Namespace) -> int:
    with engine.connect() as conn:
        rows = audit.record_history(conn, args.stream, _key_candidates(args.key), args.limit)
    if not rows:
        print(f"no audit rows for stream {args.stream!r} key {args.key!r}", file=sys.stderr)
        return 1
    _print(rows, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="target-tableau-hyper audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="SQLAlchemy URL of the audit DB")
    common.add_argument("--config", default=argparse.SUPPRESS, help="target config JSON (audit_db_url / output_dir)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
    parser.add_argument("--db")
    parser.add_argument("--config")
    parser.add_argument("--json", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    p_runs = sub.add_parser("runs", help="recent runs", parents=[common])
    p_runs.add_argument("--limit", type=int, default=20)
    p_run = sub.add_parser("run", help="what a run did", parents=[common])
    p_run.add_argument("run_id")
    p_rec = sub.add_parser("record", help="when did a record change, in which run", parents=[common])
    p_rec.add_argument("--stream", required=True)
    p_rec.add_argument("--key", required=True)
    p_rec.add_argument("--limit", type=int, default=50)
    args = parser.parse_args(argv)
    engine = audit.make_engine(_db_url(args))
    try:
        create_tables(engine, audit.metadata)
        # a DB no run of this version has opened: only the columns the queries read; index
        # changes are left to runs (building one on a big DB would hold its write lock for long)
        audit.add_missing_columns(engine)
        return {"runs": cmd_runs, "run": cmd_run, "record": cmd_record}[args.command](engine, args)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
