"""Micro-benchmark of the audit writer alone: `AuditLog.record_batch` on SQLite, per record.

  .venv/bin/python bench/bench_audit.py [--records 1000000] [--batch 100000] [--repeats 3]
      [--shape lines|entities|upsert] [--compare /path/to/other/checkout/target-tableau-hyper]

Feeds batches shaped as the load path hands them to the audit thread (sink._audit): audit keys
and source times as Arrow string arrays, the operation as `pa.repeat` (first load) or a list,
SyncToken all-null (line streams) or strings (entities), input lines as a list of ints. Prints
the calling thread's CPU-µs per record (SQLite runs on that thread: payload + statement),
wall-µs per record and the DB's bytes per record. Shapes:
  lines     invoice_lines keys ["9130","<txn>",<i>], operation constant 'insert', no SyncToken
  entities  invoices keys ["9130","<id>"], operations mixed insert/update/delete, SyncTokens
  upsert    `lines` loaded twice (the second pass updates every key: index inserts among
            existing keys)
With --compare, each repeat runs this checkout and the other one alternately in fresh
processes (PYTHONPATH), and prints both and their ratio: side by side on the shared machine.

Measured 2026-11-26 06:47 UTC (load 2.8-5.8), --records 500000 --repeats 3, this code against
commit c53fbcc's audit.py/audit_cli.py (INSERT ... SELECT FROM json_each, full rows, index
(stream, record_key)), CPU-us per record, best of 3:
  lines     4.98 -> 2.97 (0.60)   DB 186 -> 99 bytes per record
  entities  6.79 -> 2.37 (0.35)   DB 172 -> 97
  upsert    5.31 -> 2.05 (0.39)   DB 186 -> 99
(single runs move by +-30% on this machine; the ratios of alternating runs are what to compare)
07:08 UTC (load 1.4-3.3), rows holding run_id, batch_id and stream again (as before this session;
SQL on audit_records keeps its meaning) against the same code leaving them empty, best of 3:
  lines     2.31 -> 2.28 CPU-us/record (0.99)   DB 99 -> 171 bytes per record
  entities  2.59 -> 2.57 (0.99)                 DB 97 -> 162
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _columns(shape: str, start: int, n: int, version: int):
    import pyarrow as pa

    ids = range(start, start + n)
    if shape == "entities":
        keys = pa.array(['["9130","%d"]' % i for i in ids])
        ops = [("insert", "update", "update", "delete")[i % 4] for i in ids]
        sync = pa.array([str(i % 7 + version) for i in ids])
    else:
        keys = pa.array(['["9130","%d",%d]' % (i // 3, i % 3) for i in ids])
        ops = pa.repeat("insert" if version == 0 else "update", n)
        sync = pa.nulls(n, pa.string())
    updated = pa.array(["2024-03-01T10:%02d:%02d-08:00" % (i % 60, version % 60) for i in ids])
    lines = [i + 2 + i // 10000 for i in ids]  # a STATE line every 10,000 records
    return keys, ops, updated, sync, lines


def measure(records: int, batch: int, shape: str) -> dict:
    import itertools

    from target_tableau_hyper import audit

    with tempfile.TemporaryDirectory() as tmp:
        log = audit.AuditLog(audit.default_url(tmp), "20260101T000000Z-1a2b3c4d", output_dir=tmp)
        stream = "invoices" if shape == "entities" else "invoice_lines"
        log.register_stream(stream, f"{tmp}/{stream}.hyper", '"Extract"."Extract"')
        passes = 2 if shape == "upsert" else 1
        prepared = [
            (v, b, _columns(shape, b, min(batch, records - b), v))
            for v in range(passes) for b in range(0, records, batch)
        ]
        # breakdown (CPU of this thread): the rows' INSERT statements (Python values + SQLite),
        # the rest of record_batch (counters, transaction, commit = WAL write), the checkpoint
        parts = {"statements": 0.0, "counters_commit": 0.0, "checkpoint": 0.0}
        insert_values = log._insert_sqlite_values

        def timed_insert(*args, **kwargs):  # noqa: ANN002, ANN003
            c = time.thread_time()
            try:
                return insert_values(*args, **kwargs)
            finally:
                parts["statements"] += time.thread_time() - c

        log._insert_sqlite_values = timed_insert
        cpu = wall = python_values = 0.0
        for i, (v, b, cols) in enumerate(prepared):
            n = len(cols[0])
            c0, w0 = time.thread_time(), time.perf_counter()
            before = parts["statements"]
            log.record_batch(batch_id=f"{i:032x}", stream=stream, n_records=n, inserted=n, updated=0, deleted=0,
                             first_line=cols[4][0], last_line=cols[4][-1], columns=cols)
            c1 = time.thread_time()
            parts["counters_commit"] += c1 - c0 - (parts["statements"] - before)
            with log.engine.connect() as conn:  # as the target's writer thread does after each batch
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            parts["checkpoint"] += time.thread_time() - c1
            cpu += time.thread_time() - c0
            wall += time.perf_counter() - w0
            # the Python side of the statements alone (outside the timings above): the varying
            # columns as Python lists (Arrow to_pylist) and flattened into the bound tuples
            c2 = time.thread_time()
            varying = [c.to_pylist() if hasattr(c, "to_pylist") else c
                       for c in cols if not audit._constant_value(c)[0]]
            flat = list(itertools.chain.from_iterable(zip(*varying)))
            width = len(varying)
            for s in range(0, n, audit.SQLITE_ROWS_PER_STATEMENT):
                tuple(flat[s * width:(s + audit.SQLITE_ROWS_PER_STATEMENT) * width])
            python_values += time.thread_time() - c2
        log.finish()
        log.close()
        total = records * passes
        size = sum(p.stat().st_size for p in Path(tmp).glob("audit.sqlite*"))
        return {"cpu_us": cpu / total * 1e6, "wall_us": wall / total * 1e6, "bytes": size / total,
                **{f"{k}_us": x / total * 1e6 for k, x in parts.items()},
                "python_values_us": python_values / total * 1e6}


def _child(args: argparse.Namespace, package_dir: str | None) -> dict:
    env = dict(os.environ)
    if package_dir:
        env["PYTHONPATH"] = package_dir + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--records", str(args.records), "--batch", str(args.batch),
         "--shape", args.shape], env=env, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--shape", choices=("lines", "entities", "upsert"), default="lines")
    p.add_argument("--compare", help="another checkout's target-tableau-hyper folder (A/B)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.records, args.batch, args.shape)))
        return
    labels = {"this": None}
    if args.compare:
        labels["other"] = str(Path(args.compare).resolve())
    results: dict[str, list[dict]] = {k: [] for k in labels}
    for _ in range(args.repeats):
        for label, path in labels.items():  # alternating: both see the same machine load
            results[label].append(_child(args, path))
    print(f"audit writer, {args.records:,} records x{2 if args.shape == 'upsert' else 1}, batches of "
          f"{args.batch:,}, shape {args.shape}, best of {args.repeats} (all runs in brackets)")
    best = {}
    for label, runs in results.items():
        best[label] = min(r["cpu_us"] for r in runs)
        each = ", ".join(f"{r['cpu_us']:.2f}" for r in runs)
        print(f"  {label:6s} CPU {best[label]:.2f} us/record [{each}]"
              f"  wall {min(r['wall_us'] for r in runs):.2f} us/record  DB {runs[0]['bytes']:.0f} B/record")
        top = min(runs, key=lambda r: r["cpu_us"])
        if "statements_us" in top:
            print(f"         of which: INSERT statements {top['statements_us']:.2f} (their Python values alone"
                  f" {top['python_values_us']:.2f}, the rest binding + SQLite), counters + commit"
                  f" {top['counters_commit_us']:.2f}, checkpoint {top['checkpoint_us']:.2f} us/record")
    if "other" in best:
        print(f"  this / other CPU per record: {best['this'] / best['other']:.2f}")


if __name__ == "__main__":
    main()
