"""Nested QBO invoices through target-tableau-hyper with SDK flattening on, side by side in one run.

  .venv/bin/python bench/bench_target_nested.py [--records 40000] [--sdk-default-records 8000] [--audit]

Input: QBO-shaped invoices (the reference recordings in /work/shared/reference/qbo as templates:
nested refs, MetaData, addresses, TxnTaxDetail, `Line`/`LinkedTxn`/`CustomField` arrays; ids,
amounts and texts varied, some non-ASCII) under the tap's own Invoice schema, written as the
SDK writes RECORD lines (compact JSON, exact decimal text). Config as in meltano.yml:
`flattening_enabled: true, flattening_max_depth: 3` (127 columns: `CustomerRef__value`,
`MetaData__LastModifiedByRef__name`…, arrays and depth-3 objects as JSON text).

Variants (the same CLI, subprocesses, stdin from a file):
  - ours: the compiled flattening fast path (target_tableau_hyper/flatten.py, Arrow path);
  - SDK mapper path: the same target with its fast path switched off, i.e. what every record
    of a flattened stream went through before: dict decode → the SDK's `flatten_record` →
    model conversion;
  - SDK default: bench/sdk_default/target.py (the SDK's reader, record path and jsonschema
    validation; on a prefix of the input, it is the slowest).
Every table written by ours is compared with the SDK mapper path's (EXCEPT ALL both ways).
Records/s per wall second and per CPU-second (target process + its hyperd, exact from wait4);
the machine is shared (2 cores): compare the ratios of one run.

Measured 2026-11-25 on the shared 2-core machine (40,000 invoices, 2.3 KB each, 127 columns;
load average 4.5-4.7 from other work; best of 2 runs):

  audit off                           records/s  rec/CPU-s  µs CPU/rec  wall s  CPU s
  ours (compiled flattening, Arrow)       5,528      7,777         129     7.2    5.1
  SDK mapper path (flatten_record)        2,535      2,956         338    15.8   13.5
  SDK default target (8,000 records)        355        736        1358    22.5   10.9
  → ours 2.18x by wall, 2.63x per CPU-second vs the SDK mapper path; beyond the fixed cost of
    a run (1.7 CPU-s: start-up, hyperd) 87 vs 297 µs CPU per record (3.40x); 15.6x by wall and
    10.6x per CPU-second vs the SDK default target. Rows differing: 0.
  audit on (--audit, 1 run):   ours 4,854 records/s, 145 µs CPU/rec; SDK mapper path 1,936 and
    350 (2.51x by wall, 2.41x per CPU-second; beyond the fixed cost 109 vs 314 µs, 2.87x).

Where ours spends its ~87 µs per invoice (in-process, same machine): the Arrow path of a batch
~55 µs (Arrow's JSON reader ~20, the msgspec pass picking the 4 JSON-text columns' raw values
~10-15 when undeclared-key checks are needed, re-encoding those values as the SDK writes
them ~16, the RE2 long-key scan ~4), the rest in Parquet staging and Hyper's COPY (hyperd).
Flat line streams with flattening on: ~8.5 µs per 730-byte record vs ~5.9 without flattening.
The tap's whole demo company (54 streams, 32,929 rows, sandbox seed 42) through both paths:
all 54 streams on the compiled Arrow path, no per-record fallback, every table identical.
"""

from __future__ import annotations

import argparse
import copy
import decimal
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import simplejson

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path("/work/shared/reference/qbo")
PY = sys.executable
OURS = [PY, "-c", "from target_tableau_hyper.cli import main; main()"]
SDK_MAPPER = [PY, "-c", """
from target_tableau_hyper.target import TargetTableauHyper

class SdkMapperPath(TargetTableauHyper):
    def _refresh_fast_path(self, stream):  # no fast path: every record through the SDK's mapper
        self.message_reader.on_tick = self._handle_max_record_age

SdkMapperPath.cli()
"""]
SDK_DEFAULT = [PY, str(ROOT / "bench" / "sdk_default" / "target.py")]
CONFIG = {"flattening_enabled": True, "flattening_max_depth": 3, "batch_size_rows": 20_000}
NAMES = ["Amy's Bird Sanctuary", "Café Müller", "Bill's Windsurf Shop", "Jeff's Jalopies", "Søren & Co"]


def invoices(n: int) -> tuple[dict, list[dict]]:
    sys.path.insert(0, str(ROOT / "tap-quickbooks-online"))
    from tap_quickbooks_online.schema_objects import entity_schema

    schema = entity_schema("Invoice")
    templates = json.loads((REFERENCE / "entity-invoices.json").read_text(), parse_float=decimal.Decimal)
    rng = random.Random(7)
    out = []
    for i in range(n):
        r = {k: copy.deepcopy(v) for k, v in templates[i % len(templates)].items() if k in schema["properties"]}
        cents = rng.randrange(1, 10**8)
        r.update(realm_id="9130", Id=str(i + 1), DocNumber=str(1000 + i),
                 TotalAmt=decimal.Decimal(cents) / 100, Balance=decimal.Decimal(cents % 5000) / 100)
        r["CustomerRef"] = {"value": str(i % 97), "name": NAMES[i % len(NAMES)]}
        r["MetaData"]["LastUpdatedTime"] = f"2024-03-{i % 28 + 1:02d}T10:{i % 60:02d}:00-08:00"
        r["updated_at"] = r["MetaData"]["LastUpdatedTime"]
        for line in r.get("Line") or []:
            if "Amount" in line:
                line["Amount"] = decimal.Decimal(rng.randrange(1, 10**6)) / 100
            if line.get("Description"):
                line["Description"] = f"{line['Description']} #{i}"
        out.append(r)
    return schema, out


def write_input(path: Path, schema: dict, records: list[dict]) -> int:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"],
                             "schema": schema}) + "\n")
        for k, r in enumerate(records):
            fh.write(simplejson.dumps({"type": "RECORD", "stream": "invoices", "record": r}, use_decimal=True,
                                      separators=(",", ":"), ensure_ascii=False) + "\n")
            if k % 10000 == 9999:
                fh.write('{"type":"STATE","value":{"bookmarks":{"invoices":{"n":%d}}}}\n' % k)
        fh.write('{"type":"STATE","value":{"bookmarks":{"invoices":{"done":true}}}}\n')
    return len(records)


def run_cli(command: list[str], input_path: Path, config: dict, workdir: Path) -> dict:
    """Wall time and CPU-seconds of the target process + the hyperd it started (from wait4)."""
    cfg = workdir / f"config-{time.monotonic_ns()}.json"
    cfg.write_text(json.dumps(config))
    with input_path.open("rb") as stdin:
        start = time.perf_counter()
        proc = subprocess.Popen(command + ["--config", str(cfg)], stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        reader.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        reader.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"target failed: {err[0].decode()[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


def tables_equal(a: Path, b: Path) -> int:
    """Rows of a not in b plus rows of b not in a (EXCEPT ALL both ways, in Hyper)."""
    from tableauhyperapi import Connection, HyperProcess, Telemetry

    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hp:
        with Connection(hp.endpoint) as conn:
            conn.catalog.attach_database(str(a), alias="a")
            conn.catalog.attach_database(str(b), alias="b")
            return conn.execute_scalar_query(
                'SELECT (SELECT COUNT(*) FROM (SELECT * FROM "a"."Extract"."Extract" EXCEPT ALL '
                'SELECT * FROM "b"."Extract"."Extract") x) + (SELECT COUNT(*) FROM (SELECT * FROM '
                '"b"."Extract"."Extract" EXCEPT ALL SELECT * FROM "a"."Extract"."Extract") y)'
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--sdk-default-records", type=int, default=8_000, help="prefix for the SDK-default target (0: skip)")
    parser.add_argument("--repeats", type=int, default=2, help="ours / SDK mapper runs, interleaved; best of each")
    parser.add_argument("--audit", action="store_true", help="audit trail on (as deployed); off isolates the record path")
    args = parser.parse_args()
    config = {**CONFIG, "audit_enabled": args.audit}
    with tempfile.TemporaryDirectory(prefix="bench-target-nested-") as tmp:
        workdir = Path(tmp)
        schema, records = invoices(args.records)
        data = workdir / "invoices.singer"
        n = write_input(data, schema, records)
        print(f"input: {n:,} nested QBO invoices ({data.stat().st_size / 2**20:.0f} MB, "
              f"{data.stat().st_size / n / 1024:.1f} KB each), flattening_max_depth 3, audit "
              f"{'on' if args.audit else 'off'}; load average {os.getloadavg()[0]:.1f}")
        ours_runs, sdk_runs = [], []
        for k in range(args.repeats):
            ours_runs.append(run_cli(OURS, data, {**config, "output_dir": str(workdir / f"ours{k}")}, workdir))
            sdk_runs.append(run_cli(SDK_MAPPER, data, {**config, "output_dir": str(workdir / f"sdk{k}")}, workdir))
        tiny = workdir / "tiny.singer"  # the fixed cost of a run: start-up, SCHEMA, hyperd, exit
        write_input(tiny, schema, records[:10])
        fixed = min((run_cli(OURS, tiny, {**config, "output_dir": str(workdir / f"tiny{k}")}, workdir)
                     for k in range(2)), key=lambda r: r["cpu"])
        ours = min(ours_runs, key=lambda r: r["cpu"])
        sdk = min(sdk_runs, key=lambda r: r["cpu"])
        rows = [("ours (compiled flattening, Arrow)", n, ours), ("SDK mapper path (flatten_record)", n, sdk)]
        if args.sdk_default_records:
            m = min(n, args.sdk_default_records)
            prefix = workdir / "prefix.singer"
            write_input(prefix, schema, records[:m])
            rows.append((f"SDK default target ({m:,} records)", m, run_cli(
                SDK_DEFAULT, prefix, {**config, "output_dir": str(workdir / "sdkdefault")}, workdir)))
        print(f"{'variant':36s} {'records/s':>10s} {'rec/CPU-s':>10s} {'µs CPU/rec':>10s} {'wall s':>7s} {'CPU s':>6s}")
        for label, count, run in rows:
            print(f"{label:36s} {count / run['wall']:>10,.0f} {count / run['cpu']:>10,.0f} "
                  f"{run['cpu'] / count * 1e6:>10.0f} {run['wall']:>7.1f} {run['cpu']:>6.1f}")
        print(f"ours vs SDK mapper path: {sdk['wall'] / ours['wall']:.2f}x by wall, "
              f"{sdk['cpu'] / ours['cpu']:.2f}x per CPU-second")
        print(f"fixed cost of a run (10 records): {fixed['cpu']:.1f} CPU-s, {fixed['wall']:.1f} s wall; beyond it: "
              f"ours {(ours['cpu'] - fixed['cpu']) / n * 1e6:.0f} µs CPU/record, SDK mapper path "
              f"{(sdk['cpu'] - fixed['cpu']) / n * 1e6:.0f} µs CPU/record "
              f"({(sdk['cpu'] - fixed['cpu']) / (ours['cpu'] - fixed['cpu']):.2f}x)")
        if args.sdk_default_records:
            label, m, run = rows[2]
            print(f"ours vs SDK default target: {(n / ours['wall']) / (m / run['wall']):.2f}x by wall, "
                  f"{(n / ours['cpu']) / (m / run['cpu']):.2f}x per CPU-second")
        diff = tables_equal(workdir / "ours0" / "invoices.hyper", workdir / "sdk0" / "invoices.hyper")
        print(f"ours vs SDK mapper path, rows differing (EXCEPT ALL both ways): {diff}")
        if diff:
            raise SystemExit("the fast path wrote different rows")


if __name__ == "__main__":
    main()
