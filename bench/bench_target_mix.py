"""target-tableau-hyper on the real pipeline's record mix: CPU µs per record, by stream kind.

    .venv/bin/python bench/bench_target_mix.py capture --scale 0.05 --out /tmp/mix.singer
    .venv/bin/python bench/bench_target_mix.py run --mix /tmp/mix.singer [--baseline DIR] [--repeats 3]

(docstring completed below with the measurements)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
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
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.scale, args.out, args.seed)
    else:
        replay(args.mix, args.baseline, args.repeats)


if __name__ == "__main__":
    main()
