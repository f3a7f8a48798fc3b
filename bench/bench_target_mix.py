"""target-tableau-hyper on the real pipeline's record mix: CPU µs per record by stream kind, ours
vs a baseline checkout, side by side in one run (issue #6).

    .venv/bin/python bench/bench_target_mix.py       # make bench: capture at --scale 0.02, ours only
    .venv/bin/python bench/bench_target_mix.py capture --scale 0.05 --out /tmp/mix.singer
    git worktree add --detach /tmp/base-target REV      # the baseline (any revision)
    .venv/bin/python bench/bench_target_mix.py run --mix /tmp/mix.singer \
        --baseline /tmp/base-target/target-tableau-hyper [--repeats 5]
    .venv/bin/python bench/bench_target_mix.py stages --mix /tmp/mix.singer \
        --baseline /tmp/base-target/target-tableau-hyper [--repeats 5]

* ``capture``: a QBO sandbox of size ``large`` (seed 42, latency off, rate limits off, as in
  bench_pipeline.py), this checkout's tap run directly (no Meltano: Meltano relays the lines
  unchanged) over the entity streams and their line streams (the hourly entities job's selection),
  reading the last ``--scale`` of the company's history; its stdout saved as is.
* ``run``: the capture split into four inputs (every SCHEMA and STATE line in each): all records,
  the entity streams' only, the line streams' only (their parent tombstones included), none (the
  fixed cost: start-up, 47 schemas compiled, hyperd, audit DB). Each is replayed into
  ``target-tableau-hyper`` (the CLI, stdin from the file) with the deployed settings
  (``flattening_enabled``, depth 3, validation and the SQLite audit trail on, no publishing), ours
  and the baseline (``PYTHONPATH``) alternated, ``--repeats`` rounds; CPU = user + system of the
  target and the hyperd it starts and reaps (``RUSAGE_CHILDREN``). Prints the median CPU µs per
  record beyond the fixed cost, per kind, and checks that both variants wrote identical tables
  (``EXCEPT ALL`` both ways, every stream).
* ``stages``: in process, one thread: each stream's records staged as one batch
  (``Batch.prepare``: Arrow parse, JSON-text columns, key scans, classification, audit keys; the
  staged file, the Hyper load and the audit write are not included), library calls timed with
  ``thread_time``; per kind and step, ours vs the baseline, median of ``--repeats`` runs. (In ours
  the classification step includes the audit keys it builds, which are also counted on their line.)

Measured 2026-11-26 15:53-16:04 UTC (load average 1.6 before, 5-8 during: other helpers' tests
and benchmarks), the same capture (``--scale 0.05``, seed 42: 109,493 records, 25,958 entity
records of 1,684 bytes, 83,535 line records of 688 bytes), baseline = e756800 (this session's
start), ours = 9b5124a:

    run --repeats 5                       ours     base   base/ours   (CPU µs per record, target + hyperd)
      fixed cost, CPU-s                   3.14     3.18
      all (109,493 records)               42.2     50.7     1.20x
      entity (25,958)                     83.1    127.4     1.53x
      line (83,535)                       24.2     26.8     1.11x
      all, CPU-s (whole run)              7.76     8.72
      tables of ours vs baseline: identical (EXCEPT ALL both ways, every stream)

    stages --repeats 5 (staging only)     ours     base
      entity  Arrow JSON parse            13.7     14.7
              JSON-text columns           11.3     14.1     (ours: the Arrow array included; base: not)
              msgspec pick pass            3.7      4.7
              long-key scan (RE2)          3.1      3.2
              prepare, all                39.6     46.9
      line    prepare, all                 8.0     10.1     (no change for line streams: noise)

(Absolute numbers run ~25% below the 12:43 ones for both variants: a quieter machine at the
start; only the side-by-side ratios compare.) A second run on the final tree (62a422d, hyperd
started at the first deferred set-up), 16:19-16:24 UTC, load average 4.4 -> 8.5, ``--repeats
3``: fixed cost 3.62 / 3.33 CPU-s, all 49.8 / 60.7 µs (1.22x), entity 78.6 / 155.6 (1.98x),
line 20.6 / 29.6 (1.44x), tables identical: the ratios move with the load, the direction does
not.

Where an entity record's ~100 µs beyond staging went (before this change; in process, the
entity input minus the no-record input, CPU per thread with thread_time at each thread's end,
hyperd apart with RUSAGE_CHILDREN; its statements from hyperd's own log): hyperd ~45 µs, of
which ~20 µs was a second attach of every file: the table set-up (SCHEMA) attached the file,
then the first load attached it again, and every attach of a .hyper file costs hyperd 17-20 ms
of CPU for a small table, ~53 ms for invoices' 127 columns, generating the tables' access code
(`database-load` / `generate-code` in hyperd.log; its ATTACH statement itself takes <1 ms; no
process setting changed it: initial_compilation_mode, adaptive_compilation); ~10-13 µs the
INSERT from the staged file, ~2 ms a stream the emptiness query of a first load, the rest
commit and detach (persisting). In the target process beyond staging (~65 µs): the reader's
main thread ~13 µs (the 44 MB pipe read ~7, the line index ~5, copies ~2.5), the audit writer
~11 µs (its SQLite rows: a cost per record, not one of entity records), the loader threads ~4 µs. (A holder
connection keeping each file attached removes the code generation but not the durability
problem: a detach that is not the last one does not persist - checked with kill -9 of hyperd.)

Changed (ours):
- a table's set-up (create/evolve) runs inside the attach of its file's next load
  (`HyperTable.apply(setups=...)`), else in its own attach at the next barrier (STATE, end of
  input): one attach per file and run instead of two for a stream with records; a batch failing
  before its attach still sets its table up; hyperd is started when the first set-up is
  deferred, as before (on a loader thread);
- the JSON-text columns built as Arrow arrays over the source texts when every value of the
  column re-encodes to itself (`flatten._dump_array`: the same check as `_dump_column`, then one
  join and offsets, no Python string per value nor list conversion; any other column goes
  through `_dump_column` as before, tested equal on canonical and odd texts);
- a staged column whose declared type is the table column's type is inserted without a CAST
  (~2 µs of hyperd a wide record), and a table this run created empty skips the emptiness query.

Rejected or not done: the JSON-text check without Python objects (an RE2 test of canonical
tokens - compact, short escapes, canonical numbers - is possible, but a repeated key inside an
array's objects must collapse as in the SDK, and only a decode sees that: decode + re-encode is
~7.5 µs of the ~10 left); Arrow parses the JSON-text arrays too (ignored fields): removing them
from its input would save ~25% of its parse (measured: invoices 23.7 -> 17.9 µs) but needs a
Python pass per record to cut them out; hyperd's fixed cost (47 attaches a run for the streams'
set-ups, ~1 CPU-s) and its per-batch attach stay (durability needs the detach). Next levers:
the audit writer (~11 µs a record of any kind), the reader's line index, and batch files in
Arrow IPC / Parquet instead of JSONL (no parse at all).

Earlier measurements (12:43-12:53 UTC, load average 4-6), capture at ``--scale 0.05`` (97 MB: 109,493 records, 25,958 entity
records of 1,684 bytes on average - invoices 2.6 KB - and 83,535 line records of 688 bytes, one
parent tombstone per emitted transaction among them), baseline = b7ffa70 (this session's start):

    run --repeats 5                       ours     base   base/ours   (CPU µs per record, target + hyperd)
      fixed cost, CPU-s                   4.41     4.15
      all (109,493 records)               65.3     76.3     1.17x
      entity (25,958)                    165.4    163.5     0.99x
      line (83,535)                       33.4     49.0     1.47x
      tables of ours vs baseline: identical

    stages --repeats 5 (staging only)     ours     base
      entity  Arrow JSON parse            21.8     21.9
              JSON-text columns           18.7     19.0     (Line, LinkedTxn, TaxLine, CustomField)
              msgspec pick pass            6.2      6.3
              long-key scan (RE2)          4.2      4.3
              audit keys                   0.5      0.6
              prepare, all                64.7     66.1
      line    Arrow JSON parse             9.5      9.2
              classify                     2.8      7.6     (ours: audit keys included)
              long-key scan (RE2)          0.0      1.7
              audit keys                   0.6      0.9
              prepare, all                13.3     21.0     -> 1.58x

Where the target's time goes per record of this mix: staging, on one thread, is 25.5 µs of the
mix's average record now (31.7 before): an entity record costs ~65 µs to stage, a third of it
Arrow parsing 1.7 KB and as much re-encoding its arrays as the exact JSON text the SDK would write
(`flatten._dump_column`: a decode to Python objects and back, needed to be exact: e.g. a repeated
key must collapse as in the SDK), the rest the msgspec pass that picks those arrays, the RE2 scan
for keys flatten_key would shorten, building the Arrow table; a line record costs 13 µs (21
before). Beyond staging, in the target process, the reader, the staged file, the loader and the
audit writer (threads, a few µs a record); hyperd, measured apart (polling its /proc CPU, same
inputs): 1.5-2.0 CPU-s beyond the fixed cost for the entity input (60-75 µs per entity record: ~20
wide tables, 127 columns for invoices, each loaded in one or two batches: per-batch attach,
transaction, detach dominate at this scale) and ~1.0 CPU-s for the line input (~12 µs a record).
The mix costs 4-6x the flat invoice-line bench (bench_target.py) because a quarter of its records
are large nested entities (the JSON-text columns alone exceed a flat record's whole cost) and,
before this change, because every line-stream batch holds parent tombstones: `Batch._classify`
then went record by record (a datetime object per record from to_pylist of `_sdc_deleted_at`,
Python loops over the keys), and the audit operations too.

Changed (ours): a batch with deletes or parent tombstones is classified in Arrow
(`Batch._classify_vectorized`: null keys only in tombstones, keys unique, each parent tombstoned
once, no line before its parent's tombstone - anything else goes record by record as before;
from 1,000 records a batch: its Arrow kernels and joins cost ~3 ms a call, the loop 5-10 µs a
record, measured crossover 300-1,000 line records);
audit operations of a fully staged batch built in Arrow (`sink._audit_ops`); flattened streams
without JSON-text columns (all line streams) are read by Arrow refusing undeclared keys first,
which, when it succeeds, proves there is no key the RE2 scan or the column-like key check look
for (on a failure the usual read and checks run, and the stream stops trying). Rejected after
measuring: a msgspec pick pass declaring every key (forbid unknown) instead of the RE2 scan for
entity streams (per invoice 21.6 vs 23.0 µs, payments 7.0 vs 7.8, bills 7.6 vs 7.1: the Raw
objects cost what the scan did); one threaded Arrow read of a whole line-stream batch instead of
1 MiB pieces (6.5-7.3 vs 7.3 µs a record: noise).

Not done, next levers: (1) the JSON-text columns of entity streams (~19 µs per entity record):
an exact check that needs no Python objects (a C-level canonical-JSON test: compact, no escapes,
canonical numbers, no repeated key) or not writing as JSON text the arrays the line streams
already carry (a contract change); (2) JSON parsing itself (~11 ns a byte in Arrow, ~10 µs for the
average record): batch mode could hand the target Arrow IPC / Parquet files instead of JSONL (the
target refuses Parquet today), removing the parse; (3) hyperd's per-batch cost on wide tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
PY = sys.executable


# --- capture: the tap's Singer output over the sandbox's `large` company ----------------------
def _selection() -> tuple[set[str], set[str]]:
    """(entity stream names, line stream names): the hourly entities job's selection."""
    from tap_quickbooks_online.streams.entities import ENTITY_STREAMS  # noqa: PLC0415
    from tap_quickbooks_online.streams.lines import LINE_TABLE  # noqa: PLC0415

    entities = {cls.name for cls in ENTITY_STREAMS}
    lines = {line for line, parent in LINE_TABLE if parent in entities}
    return entities, lines


def capture(scale: float, out: Path, seed: int) -> None:
    """Run the tap (this checkout's, no Meltano) over a fresh `large` sandbox, limits off,
    reading the last `scale` of the company's history, and save its stdout (SCHEMA, RECORD,
    STATE lines as the target receives them from Meltano, which relays lines unchanged)."""
    from qbo_sandbox.testing import QboSandboxServer  # noqa: PLC0415
    from support import invoices_changed_since, start_date_for_invoices  # noqa: PLC0415

    entities, lines = _selection()
    with tempfile.TemporaryDirectory(prefix="bench-mix-capture-") as tmp, \
            QboSandboxServer(realms=1, size="large", seed=seed, latency=False, subprocess_mode=True) as sb:
        sb.control("POST", "/_sandbox/limits", json={"enabled": False})
        api = sb.api(sb.realm_ids()[0])
        start_date = "2000-01-01T00:00:00Z" if scale >= 1 else \
            start_date_for_invoices(api, invoices_changed_since(api) * scale)
        creds = sb.credentials()
        config = {
            "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "realms": [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]} for r in creds["realms"]],
            "environment": "sandbox", "api_base_url": sb.base_url, "oauth_base_url": sb.base_url,
            "start_date": start_date, "token_store": str(Path(tmp) / "tokens.json"),
        }
        cfg = Path(tmp) / "config.json"
        cfg.write_text(json.dumps(config))
        cfg.chmod(0o600)
        tap = [PY, "-c", "from tap_quickbooks_online.cli import main; main()", "--config", str(cfg)]
        catalog = json.loads(subprocess.run(tap + ["--discover"], capture_output=True, check=True).stdout)
        for entry in catalog["streams"]:
            chosen = entry["tap_stream_id"] in entities | lines
            for meta in entry.get("metadata", []):
                if not meta["breadcrumb"]:
                    meta["metadata"]["selected"] = chosen
        cat = Path(tmp) / "catalog.json"
        cat.write_text(json.dumps(catalog))
        started = time.perf_counter()
        with out.open("wb") as fh:
            proc = subprocess.run(tap + ["--catalog", str(cat)], stdout=fh, stderr=subprocess.PIPE)
        if proc.returncode:
            raise SystemExit(f"tap failed:\n{proc.stderr.decode()[-3000:]}")
        print(f"captured {out} ({out.stat().st_size / 2**20:.0f} MB, start_date {start_date}) in "
              f"{time.perf_counter() - started:.0f} s")
    print(describe(out))


def describe(path: Path) -> str:
    """Message and record counts of a captured file, by stream kind."""
    entities, lines = _selection()
    counts: dict[str, int] = {}
    by_kind = {"entity": [0, 0], "line": [0, 0], "other": [0, 0]}
    with path.open("rb") as fh:
        for raw in fh:
            msg = json.loads(raw)
            kind = msg.get("type")
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "RECORD":
                stream = msg["stream"]
                which = "entity" if stream in entities else "line" if stream in lines else "other"
                by_kind[which][0] += 1
                by_kind[which][1] += len(raw)
    parts = [f"{k} {v:,}" for k, v in counts.items()]
    parts += [f"{k} records {n:,} ({b / max(n, 1):,.0f} B each)" for k, (n, b) in by_kind.items() if n]
    return "; ".join(parts)


# --- run: the captured input replayed into the target, ours vs a baseline checkout -------------
def split_input(path: Path, workdir: Path) -> dict[str, tuple[Path, int]]:
    """The capture as four inputs (SCHEMA and STATE lines kept in each): all records, the entity
    streams' records only, the line streams' only, none (the fixed cost). → kind: (file, records)."""
    entities, _lines = _selection()
    outs = {kind: (workdir / f"{kind}.singer").open("wb") for kind in ("all", "entity", "line", "none")}
    counts = dict.fromkeys(outs, 0)
    with path.open("rb") as fh:
        for raw in fh:
            if raw.startswith(b'{"type":"RECORD"'):
                stream = raw[len(b'{"type":"RECORD","stream":"'):].split(b'"', 1)[0].decode()
                kinds = ("all", "entity" if stream in entities else "line")
            else:
                kinds = tuple(outs)
            for kind in kinds:
                outs[kind].write(raw)
                counts[kind] += raw.startswith(b'{"type":"RECORD"')
    for fh in outs.values():
        fh.close()
    return {kind: (workdir / f"{kind}.singer", counts[kind]) for kind in outs}


def run_target(input_path: Path, output_dir: Path, package_root: str | None) -> float:
    """CPU-seconds (user + system) of one target run and of the hyperd it started and reaped
    (RUSAGE_CHILDREN of this process, before/after). Config as deployed (meltano.yml): flattening
    on, depth 3, validation and the audit trail (SQLite) on, no publishing."""
    config = output_dir.parent / f"{output_dir.name}.json"
    config.write_text(json.dumps({"output_dir": str(output_dir), "flattening_enabled": True,
                                  "flattening_max_depth": 3}))
    env = {**os.environ, "PYTHONPATH": package_root} if package_root else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with input_path.open("rb") as stdin:
        proc = subprocess.run([PY, "-c", "from target_tableau_hyper.cli import main; main()", "--config",
                               str(config)], stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"target failed:\n{proc.stderr.decode()[-3000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def same_tables(a: Path, b: Path) -> dict[str, str]:
    """Streams whose extracts differ between two output directories (EXCEPT ALL both ways)."""
    from tableauhyperapi import Connection, HyperProcess, Telemetry  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "tests"))
    from e2e_support import differing_tables  # noqa: PLC0415

    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hyper, \
            Connection(hyper.endpoint) as conn:
        return differing_tables(a, b, conn)[0]


def replay(mix: Path, baseline: str | None, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-target-mix-") as tmp:
        workdir = Path(tmp)
        inputs = split_input(mix, workdir)
        print(f"input {mix}: {describe(mix)}")
        print(f"machine load average before: {os.getloadavg()[0]:.1f}")
        roots = [("ours", None)] + ([("base", baseline)] if baseline else [])
        cpu: dict[tuple[str, str], list[float]] = {}
        for k in range(repeats):
            for kind in ("none", "all", "entity", "line"):
                # alternate the order so neither variant always runs right after the other's kind
                for who, root in (roots if k % 2 == 0 else roots[::-1]):
                    out = workdir / f"{who}-{kind}-{k}"
                    cpu.setdefault((who, kind), []).append(run_target(inputs[kind][0], out, root))
        print(f"machine load average after:  {os.getloadavg()[0]:.1f}")
        if baseline:
            differing = same_tables(workdir / "ours-all-0", workdir / "base-all-0")
            print(f"tables of ours vs baseline (all records): {'identical' if not differing else differing}")

        def median(values: list[float]) -> float:
            return sorted(values)[len(values) // 2]

        print()
        print(f"CPU µs per record beyond the fixed cost (target + its hyperd, RUSAGE_CHILDREN; median of "
              f"{repeats} runs, the variants alternated; fixed cost = the same input without records)")
        header = f"{'':24s}" + "".join(f"{who:>12s}" for who, _ in roots)
        if baseline:
            header += f"{'base/ours':>12s}"
        print(header)
        fixed = {who: median(cpu[who, "none"]) for who, _ in roots}
        print(f"{'fixed cost, CPU-s':24s}" + "".join(f"{fixed[who]:>12.2f}" for who, _ in roots))
        for kind in ("all", "entity", "line"):
            n = inputs[kind][1]
            per = {who: 1e6 * (median(cpu[who, kind]) - fixed[who]) / n for who, _ in roots}
            line = f"{kind + f' ({n:,} records)':24s}" + "".join(f"{per[who]:>12.1f}" for who, _ in roots)
            if baseline:
                line += f"{per['base'] / per['ours']:>11.2f}x"
            print(line)
        print(f"{'all, CPU-s (whole run)':24s}" + "".join(f"{median(cpu[who, 'all']):>12.2f}" for who, _ in roots))


# --- stages: where a batch's staging CPU goes, per stream kind (in process, one thread) ----------
STAGES_CHILD = r"""
import collections, io, json, sys, time
import pyarrow.compute as pc, pyarrow.json as pa_json
from target_tableau_hyper import batch as batch_mod, flatten as flatten_mod
from target_tableau_hyper.target import TargetTableauHyper
mix, entities, repeats = sys.argv[1], set(sys.argv[2].split(",")), int(sys.argv[3])
spent = collections.Counter()
kind = ["?"]
def timed(owner, name, label):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        started = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[kind[0], label] += time.thread_time() - started
    setattr(owner, name, wrapper)
timed(pa_json, "read_json", "Arrow JSON parse")
timed(pc, "match_substring_regex", "long-key scan (RE2)")
# the JSON-text columns: `_dump_array` where it exists (it calls `_dump_column` only on a fallback)
timed(flatten_mod, "_dump_array" if hasattr(flatten_mod, "_dump_array") else "_dump_column",
      "JSON-text columns (decode+re-encode)")
for name in ("_classify", "_classify_vectorized"):
    if hasattr(batch_mod.Batch, name):
        timed(batch_mod.Batch, name, "classify (ops, last version, tombstones)")
timed(batch_mod.Batch, "_audit_keys", "audit keys")
timed(batch_mod.Batch, "_audit_keys_vectorized", "audit keys")
class TimedDecoder:
    def __init__(self, inner):
        self.inner = inner
    def decode(self, data):
        started = time.thread_time()
        try:
            return self.inner.decode(data)
        finally:
            spent[kind[0], "msgspec pick pass"] += time.thread_time() - started
schemas, runs = [], collections.defaultdict(list)
with open(mix, "rb") as fh:
    for raw in fh:
        if raw.startswith(b'{"type":"SCHEMA"'):
            schemas.append(raw)
        elif raw.startswith(b'{"type":"RECORD"'):
            runs[raw[len(b'{"type":"RECORD","stream":"'):].split(b'"', 1)[0].decode()].append(raw)
target = TargetTableauHyper(config={"output_dir": sys.argv[4], "flattening_enabled": True,
                                    "flattening_max_depth": 3, "audit_enabled": False}, validate_config=False)
target.listen(io.BytesIO(b"".join(schemas)))
meta = {"_sdc_batched_at": None, "_sdc_received_at": None, "_sdc_sync_started_at": None}
records = collections.Counter()
for _ in range(repeats):
    for stream, lines in runs.items():
        sink = target._sinks_active[stream]
        plan = sink.model.flattened
        if plan is not None and getattr(plan, "_pick_decoder", None) is not None                 and not isinstance(plan._pick_decoder, TimedDecoder):
            plan._pick_decoder = TimedDecoder(plan._pick_decoder)
        kind[0] = "entity" if stream in entities else "line"
        batch = batch_mod.Batch(sink.model)
        batch.add_run(b"".join(lines), 1, len(lines))
        started = time.thread_time()
        batch.prepare(sink.columns, keyed=sink.keyed, metadata=meta, audited=True)
        spent[kind[0], "prepare (all of staging but the file)"] += time.thread_time() - started
        records[kind[0]] += len(lines)
print(json.dumps({f"{k}|{label}": 1e6 * v / records[k] for (k, label), v in spent.items()}))
"""


def stages(mix: Path, baseline: str | None, repeats: int) -> None:
    """Staging CPU µs per record by stream kind and step (each stream's records as one batch,
    `Batch.prepare` on one thread; steps timed with thread_time around the library calls; the
    staged file write, the Hyper load and the audit write are not included). Ours and the
    baseline alternate, `repeats` rounds, median."""
    entities, _lines = _selection()
    roots = [("ours", None)] + ([("base", baseline)] if baseline else [])
    results: dict[str, list[dict]] = {who: [] for who, _ in roots}
    with tempfile.TemporaryDirectory(prefix="bench-target-stages-") as tmp:
        for k in range(repeats):
            for who, root in (roots if k % 2 == 0 else roots[::-1]):
                env = {**os.environ, "PYTHONPATH": root} if root else None
                proc = subprocess.run([PY, "-c", STAGES_CHILD, str(mix), ",".join(sorted(entities)), "1",
                                       str(Path(tmp) / f"{who}-{k}")], capture_output=True, env=env)
                if proc.returncode:
                    raise SystemExit(proc.stderr.decode()[-3000:])
                results[who].append(json.loads(proc.stdout.decode().splitlines()[-1]))
    labels = sorted({key for runs in results.values() for r in runs for key in r})
    print(f"staging CPU µs per record (median of {repeats}; one thread; each stream's records as one batch)")
    print(f"{'kind | step':58s}" + "".join(f"{who:>10s}" for who, _ in roots))
    for key in labels:
        values = []
        for who, _ in roots:
            got = sorted(r.get(key, 0.0) for r in results[who])
            values.append(got[len(got) // 2])
        print(f"{key.replace('|', ' | '):58s}" + "".join(f"{v:>10.1f}" for v in values))


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cap = sub.add_parser("capture", help="save the tap's Singer output over the large sandbox")
    cap.add_argument("--scale", type=float, default=0.05)
    cap.add_argument("--seed", type=int, default=42)
    cap.add_argument("--out", type=Path, required=True)
    run = sub.add_parser("run", help="replay a capture into the target, ours vs --baseline")
    run.add_argument("--mix", type=Path, required=True)
    run.add_argument("--baseline", metavar="DIR",
                     help="the target-tableau-hyper folder of another checkout (e.g. `git worktree add"
                          " --detach /tmp/base-target REV`: /tmp/base-target/target-tableau-hyper)")
    run.add_argument("--repeats", type=int, default=3)
    stg = sub.add_parser("stages", help="staging CPU per record by stream kind and step, ours vs --baseline")
    stg.add_argument("--mix", type=Path, required=True)
    stg.add_argument("--baseline", metavar="DIR")
    stg.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.command is None:  # `make bench`: a small capture, then ours alone
        with tempfile.TemporaryDirectory(prefix="bench-target-mix-") as tmp:
            mix = Path(tmp) / "mix.singer"
            capture(0.02, mix, 42)
            replay(mix, None, 3)
            stages(mix, None, 3)
    elif args.command == "capture":
        capture(args.scale, args.out, args.seed)
    elif args.command == "stages":
        stages(args.mix, args.baseline, args.repeats)
    else:
        replay(args.mix, args.baseline, args.repeats)


if __name__ == "__main__":
    main()
