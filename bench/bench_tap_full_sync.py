"""Full sync of the `large` QBO sandbox company under QBO's limits: tap-quickbooks-online vs the
rate-limit floor, and vs singer-io `tap-quickbooks` 2.5.0 (PyPI), side by side in one run.

The sandbox runs in its own process with the latency model on (~0.15 s + 0.85 ms a row, so a
1000-row page takes about 1 s) and QBO's limits on (500 requests/min and 10 concurrent requests
per realm; beyond → 429). For each tap the bench prints wall time, records/s, the peak RSS of the
tap process, and the requests the sandbox served (its control API counters). The floor is what
the rate limit alone allows: `requests served / (500 per minute)` for the busiest realm; the
`wall / floor` ratio is the tap's distance from it (goal ≤ 1.25). `pages` is the lowest number of
page requests any tap needs (`ceil(rows / 1000)` per entity and realm), so the request overhead
of each tap is visible too.

Streams: every entity stream and every line stream (`*_lines`) of tap-quickbooks-online;
reports are not part of this bench (see bench/bench_tap.py and the reports tests).
tap-quickbooks 2.5.0 gets the same entity streams (it has no line streams: lines stay nested in
its transaction records; its `profit_loss_report` and `deleted_objects` are not selected). It
syncs one realm per process, so it runs once per realm, one after another, as its users run it.

    .venv/bin/python bench/bench_tap_full_sync.py [--scale 0.05] [--realms 1]
        [--streams invoices,bills] [--no-lines] [--skip-tap-quickbooks]
        [--max-concurrency 10] [--requests-per-minute 500]

`--scale F` syncs the last fraction F of the company's transaction history (start_date chosen
by COUNT(*) bisection so that about F of the invoices, and so of every transaction type, fall
after it; list entities are read whole). `--scale 1` is the whole `large` company (522,000
transactions, ~1.2 M lines a realm). tap-quickbooks 2.5.0 is installed on demand into
`bench/.venvs/tap-quickbooks` (`python3.11 -m venv` + pip, gitignored). Its Intuit hosts are
module constants, pointed at the sandbox by a small wrapper; nothing else is changed.

`--page-size 100` (tap-quickbooks-online only) makes 10x more requests for the same rows, so
the rate limit binds on a subset whose rows this shared machine can process within the floor:
the tap's request scheduling is then measured apart from the machine's CPU.

Runtime and results on the shared 2-core machine (load average 11-15 from other work, 25 Nov):
* `--scale 0.5 --streams invoices,bills,payments --no-lines --skip-tap-quickbooks
  --page-size 100`: ~2.5 min. 107,725 records, 1,092 requests (fewest possible 1,078), no 429:
  wall 136.5 s vs floor 131.0 s = 1.04x the floor (1.06x of the fewest-pages floor); peak RSS
  78 MB; CPU tap 8.0 s, sandbox 11.4 s. The same run with the tap as it was before the
  concurrent page pool (27e0d2c: one page in flight per stream, streams one after another):
  wall 310.8 s = 2.37x the floor (~5 min).
* Same command, 25 Nov evening, after the record-path changes of issue #3 (rows compiled in
  QBO's order, seam-only overlap checks; load average 3-6): 107,725 records, 1,092 requests,
  no 429, wall 126.5 s vs floor 131.0 s = 0.97x (0.98x of the fewest-pages floor); peak RSS
  73.6 MB; CPU tap 6.4 s, sandbox 7.3 s.
* `--scale 0.05 --streams invoices,bills,payments,purchases,sales_receipts` (1000-row pages,
  line streams on): ~4 min, most of it tap-quickbooks 2.5.0. Ours 27.0 s wall for 70,139
  records (15,230 entity + 54,909 line records), 2.8 s CPU, peak RSS 115 MB; tap-quickbooks
  2.5.0 180.4 s for its 15,230 records (lines nested), 29.9 s CPU, 6 /batch requests, peak
  RSS 135 MB: 6.7x faster wall, 10.7x less CPU (an earlier run: 48.3 s vs 258.5 s, 5.4x). At
  22 requests neither tap is near the rate limit here: the wall is this loaded machine's CPU
  and the latency model (first pages, COUNT, tail of each stream).
* `--scale 1 --no-lines --skip-tap-quickbooks --streams <every entity stream but accounts,
  customers, vendors>` (the whole company's transactions and lists, 1000-row pages; those three
  need the sandbox's balance warm-up, ~400 s here): ~7 min. 519,351 records, 558 requests
  (fewest 537), no 429, wall 379.1 s vs floor 67.0 s = 5.66x; peak RSS 155 MB. CPU: tap 15.7 s,
  sandbox 47.9 s: together a third of the floor, but the machine (load 14-18 on 2 cores) gave
  the single-process sandbox ~13 % of a core (47.9 s CPU in 379 s), and each uncached page
  costs it ~86 ms of CPU (Deposit pages far more: 23 requests took 58.7 s): the sandbox, starved
  of CPU, is the bottleneck of this run, not the tap's request scheduling (the 100-row run
  above, with ~10 ms of sandbox CPU a request, reached 1.04x the floor).
* `--scale 1 --skip-tap-quickbooks` (the whole `large` company: every entity stream and all 13
  line streams, 1000-row pages), 26 Nov 00:01 UTC, load average 1.6-2.3 (other work starting):
  ~3 min (97 s of it the sandbox's balance warm-up, not timed; 1.6 s when its cache is warm).
  2,195,919 records, 561 requests (fewest 540), no 429: wall 84.1 s vs floor 67.3 s = 1.25x
  (1.30x of the fewest-pages floor); peak RSS 211.5 MB; CPU tap 35.2 s, sandbox 28.8 s. Invoices
  alone (`--streams invoices`, 536,332 records, 92 requests, not rate-limited) took 17.2 s
  against an 11.0 s floor: with 10 requests in flight, the latency model (~1 s a page) and the
  sandbox's ~80 ms of CPU to render each uncached page set the pace there, and the tap's writer
  thread was idle most of the time (py-spy: 89 of 750 samples).
* Same command, 26 Nov 01:12 UTC, quiet machine (load 1.2), after this session's sandbox render
  work: 2,195,919 records, 561 requests, no 429: wall 71.3 s vs floor 67.3 s = 1.06x (1.10x of
  the fewest-pages floor); peak RSS 164.9 MB; CPU tap 39.0 s, sandbox 26.9 s.
* `--scale 0.2` (every stream, tap-quickbooks 2.5.0 side by side), 26 Nov 01:15 UTC, quiet
  machine: ours 25.2 s for 438,869 records (139 requests; 1.51x its floor: at this size the
  first page and COUNT of each stream and the tail are a large part), tap-quickbooks 2.5.0 251.0 s
  for its 103,840 records (19 /batch requests, 149.3 s CPU, peak RSS 280.5 MB): 9.9x faster by
  wall. `--scale 0.05 --streams invoices,bills,payments,purchases,sales_receipts` in the same
  quiet hour: 8.6 s vs 39.5 s, 4.6x (22 requests: start-up and first-page latency dominate).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from support import TAP_QUICKBOOKS_WRAPPER, invoices_changed_since, start_date_for_invoices  # bench/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venvs" / "tap-quickbooks"
OUR_TAP = ROOT / ".venv" / "bin" / "tap-quickbooks-online"
QBO_LIMIT_PER_MINUTE = 500


# ---- helpers ----------------------------------------------------------------------------
def ensure_tap_quickbooks() -> Path:
    python = VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run([str(python), "-c", "import tap_quickbooks"], capture_output=True)
        if probe.returncode == 0:
            return python
    print("installing tap-quickbooks==2.5.0 into", VENV, flush=True)
    subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "tap-quickbooks==2.5.0"],
                   check=True)
    return python


def run_counting(command: list[str], env: dict, log_path: str | None = None) -> dict:
    """Run a tap, count the RECORD messages on its stdout, return wall time and peak RSS
    (its stderr goes to `log_path` when given)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    counts = {"records": 0}
    errors: list[bytes] = []

    def drain_stderr() -> None:
        log = open(log_path, "wb") if log_path else None  # noqa: SIM115
        for line in proc.stderr:
            errors.append(line)
            del errors[:-40]
            if log:
                log.write(line)
        if log:
            log.close()

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    tail = b""
    while True:
        chunk = proc.stdout.read(1 << 20)
        if not chunk:
            break
        data = tail + chunk
        cut = data.rfind(b"\n") + 1
        whole, tail = data[:cut], data[cut:]
        counts["records"] += whole.count(b'{"type":"RECORD"') + whole.count(b'{"type": "RECORD"')
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    reader.join(timeout=5)
    if proc.returncode != 0:
        sys.stderr.write(b"".join(errors).decode("utf-8", "replace"))
        raise SystemExit(f"{command[0]} failed with exit code {proc.returncode}")
    return {"seconds": elapsed, "records": counts["records"],
            "max_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_up(sb, realm_ids: list[str]) -> None:
    """Let the sandbox derive account/customer/vendor balances first (not timed): on `large` it
    generates every transaction to do so, minutes of its own CPU, and either tap's first
    Account query would otherwise wait for it (tap-quickbooks-online's request timeout is 120 s)."""
    for realm_id in realm_ids:
        started = time.perf_counter()
        api = sb.api(realm_id)
        response = api.session.get(api.base + "/query", timeout=3600,
                                   params={"query": "SELECT COUNT(*) FROM Account"})
        response.raise_for_status()
        print(f"sandbox warm-up (balances of realm {realm_id}, not timed): "
              f"{time.perf_counter() - started:.0f} s", flush=True)


def start_date_for(sb, realm_id: str, scale: float) -> str | None:
    """The LastUpdatedTime after which about `scale` of the invoices were changed."""
    if scale >= 1:
        return None
    api = sb.api(realm_id)
    return start_date_for_invoices(api, invoices_changed_since(api) * scale)


def min_pages(sb, realm_ids: list[str], entities: list[str], start_date: str | None,
              page_size: int = 1000) -> int:
    """ceil(rows / page_size) per entity and realm (busiest realm): the fewest page requests."""
    worst = 0
    for realm_id in realm_ids:
        api = sb.api(realm_id)
        pages = 0
        for entity in entities:
            clauses = []
            if entity not in ("CompanyInfo", "Preferences", "Exchangerate"):
                if start_date:
                    clauses.append(f"Metadata.LastUpdatedTime >= '{start_date}'")
            where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
            active = " AND Active IN (true, false)" if where and entity in NAME_LISTS else \
                (" WHERE Active IN (true, false)" if entity in NAME_LISTS else "")
            body = api.query(f"SELECT COUNT(*) FROM {entity}{where}{active}").json()
            rows = int((body.get("QueryResponse") or {}).get("totalCount") or 0)
            pages += max(1, math.ceil(rows / page_size))
        worst = max(worst, pages)
    return worst


NAME_LISTS = {"Account", "Budget", "Class", "CompanyCurrency", "CustomerType", "Customer",
              "Department", "Employee", "Item", "PaymentMethod", "TaxCode", "TaxRate", "Term",
              "Vendor"}


def reset_counters(sb) -> None:
    sb.control("DELETE", "/_sandbox/counters")
    sb.control("POST", "/_sandbox/limits", json={"reset_window": True})


def served(sb, realm_ids: list[str]) -> dict:
    counters = sb.control("GET", "/_sandbox/counters")
    per_realm = counters.get("per_realm") or {}
    busiest = max((_realm_total(per_realm.get(r)) for r in realm_ids), default=0)
    return {"requests_total": counters.get("requests_total", 0), "busiest_realm": busiest,
            "throttled_429": counters.get("throttled_429", 0), "requests": counters["requests"]}


def _realm_total(entry) -> int:
    if isinstance(entry, int):
        return entry
    if isinstance(entry, dict):
        return int(entry.get("requests_total") or entry.get("total") or
                   sum(v for v in entry.values() if isinstance(v, int)))
    return 0


# ---- the two taps ------------------------------------------------------------------------
def run_ours(sb, creds, args, start_date, tmp, wanted) -> dict:
    config = {
        "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "realms": [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]}
                   for r in creds["realms"]],
        "api_base_url": sb.base_url, "oauth_base_url": sb.base_url,
        "token_store": os.path.join(tmp, "tokens.json"),
        "max_concurrency": args.max_concurrency,
        "requests_per_minute": args.requests_per_minute,
        "page_size": args.page_size,
    }
    if start_date:
        config["start_date"] = start_date
    config_path = os.path.join(tmp, "ours-config.json")
    Path(config_path).write_text(json.dumps(config))
    discovered = subprocess.run([str(OUR_TAP), "--config", config_path, "--discover"],
                                capture_output=True, text=True, check=True)
    catalog = json.loads(discovered.stdout)
    selected = []
    for entry in catalog["streams"]:
        take = entry["tap_stream_id"] in wanted
        if take:
            selected.append(entry["tap_stream_id"])
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = take
    catalog_path = os.path.join(tmp, "ours-catalog.json")
    Path(catalog_path).write_text(json.dumps(catalog))
    reset_counters(sb)
    sandbox_cpu = process_cpu_seconds(sb._proc.pid)  # noqa: SLF001
    result = run_counting([str(OUR_TAP), "--config", config_path, "--catalog", catalog_path],
                          dict(os.environ), args.tap_log)
    result["sandbox_cpu_s"] = process_cpu_seconds(sb._proc.pid) - sandbox_cpu  # noqa: SLF001
    result.update(served(sb, [r["realm_id"] for r in creds["realms"]]))
    result["streams"] = selected
    return result


def run_tap_quickbooks(sb, creds, python: Path, start_date, tmp, wanted) -> dict:
    wrapper = os.path.join(tmp, "run_tap_quickbooks.py")
    Path(wrapper).write_text(TAP_QUICKBOOKS_WRAPPER)
    env = {**os.environ, "BENCH_BASE_URL": sb.base_url, "OAUTHLIB_INSECURE_TRANSPORT": "1"}
    total = {"seconds": 0.0, "records": 0, "max_rss_mb": 0.0, "requests_total": 0,
             "busiest_realm": 0, "throttled_429": 0, "cpu_s": 0.0, "sandbox_cpu_s": 0.0}
    for realm in creds["realms"]:
        config_path = os.path.join(tmp, f"tq-config-{realm['realm_id']}.json")
        Path(config_path).write_text(json.dumps({
            "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "refresh_token": realm["refresh_token"], "realm_id": realm["realm_id"],
            "start_date": start_date or "2000-01-01T00:00:00Z", "user_agent": "bench"}))
        discovered = subprocess.run([str(python), wrapper, "--config", config_path,
                                     "--discover"], env=env, capture_output=True, text=True,
                                    check=True)
        catalog = json.loads(discovered.stdout)
        for entry in catalog["streams"]:
            for md in entry["metadata"]:
                if md["breadcrumb"] == []:
                    md["metadata"]["selected"] = entry["tap_stream_id"] in wanted
        catalog_path = os.path.join(tmp, f"tq-catalog-{realm['realm_id']}.json")
        Path(catalog_path).write_text(json.dumps(catalog))
        reset_counters(sb)
        sandbox_cpu = process_cpu_seconds(sb._proc.pid)  # noqa: SLF001
        one = run_counting([str(python), wrapper, "--config", config_path, "--catalog",
                            catalog_path], env)
        total["sandbox_cpu_s"] += process_cpu_seconds(sb._proc.pid) - sandbox_cpu  # noqa: SLF001
        total["cpu_s"] += one["cpu_s"]
        got = served(sb, [realm["realm_id"]])
        total["seconds"] += one["seconds"]
        total["records"] += one["records"]
        total["max_rss_mb"] = max(total["max_rss_mb"], one["max_rss_mb"])
        total["requests_total"] += got["requests_total"]
        total["busiest_realm"] = max(total["busiest_realm"], got["busiest_realm"])
        total["throttled_429"] += got["throttled_429"]
    return total


def describe(name: str, r: dict, per_minute: int = QBO_LIMIT_PER_MINUTE) -> str:
    floor = r["busiest_realm"] / per_minute * 60
    ratio = r["seconds"] / floor if floor else float("nan")
    return (f"  {name:24s} wall {r['seconds']:8.1f} s  records {r['records']:9d}  "
            f"{r['records'] / r['seconds']:8.0f} rec/s  requests {r['requests_total']:5d} "
            f"(busiest realm {r['busiest_realm']}, 429s {r['throttled_429']})  "
            f"floor {floor:6.1f} s  wall/floor {ratio:5.2f}  peak RSS {r['max_rss_mb']:6.1f} MB\n"
            f"  {'':24s} CPU: tap {r['cpu_s']:7.1f} s, sandbox {r['sandbox_cpu_s']:7.1f} s "
            f"(machine load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the transaction history to sync (1 = all)")
    parser.add_argument("--realms", type=int, default=1)
    parser.add_argument("--streams", default="all",
                        help="comma-separated entity streams (their line streams follow)")
    parser.add_argument("--no-lines", action="store_true", help="entity streams only")
    parser.add_argument("--skip-tap-quickbooks", action="store_true")
    parser.add_argument("--max-concurrency", type=int, default=10)
    parser.add_argument("--requests-per-minute", type=int, default=None,
                        help="the tap's setting (default: the sandbox's limit)")
    parser.add_argument("--limit-per-minute", type=int, default=QBO_LIMIT_PER_MINUTE,
                        help="the sandbox's rate limit (QBO: 500); a lower one makes the rate "
                             "limit bind on a small subset, which isolates the tap's request "
                             "scheduling from this machine's CPU")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--page-size", type=int, default=1000,
                        help="tap-quickbooks-online's page_size (QBO max 1000); smaller pages "
                             "mean more requests for the same rows: the rate limit binds on a "
                             "subset whose rows this machine can process in time")
    parser.add_argument("--tap-log", help="write tap-quickbooks-online's log (stderr) here")
    args = parser.parse_args()
    if args.requests_per_minute is None:
        args.requests_per_minute = args.limit_per_minute

    sys.path.insert(0, str(ROOT / "tap-quickbooks-online"))
    from qbo_sandbox.testing import QboSandboxServer  # noqa: PLC0415

    from tap_quickbooks_online.streams.entities import ENTITY_STREAMS, STREAMS_BY_NAME  # noqa: PLC0415
    from tap_quickbooks_online.streams.lines import make_line_streams  # noqa: PLC0415

    entity_streams = {cls.name: cls.entity for cls in ENTITY_STREAMS}
    if args.streams == "all":
        chosen = list(entity_streams)
    else:
        chosen = [s.strip() for s in args.streams.split(",") if s.strip()]
        unknown = sorted(set(chosen) - set(entity_streams))
        if unknown:
            raise SystemExit(f"unknown entity streams: {', '.join(unknown)}")
    wanted = set(chosen)
    if not args.no_lines:
        wanted |= {cls.name for cls in make_line_streams(STREAMS_BY_NAME)
                   if cls.parent_stream_type.name in wanted}
    python = None if args.skip_tap_quickbooks else ensure_tap_quickbooks()

    limit = args.limit_per_minute
    print(f"QBO sandbox: large, {args.realms} realm(s), seed {args.seed}, latency model on, "
          f"limits on ({limit}/min, 10 concurrent per realm); scale {args.scale}; tap settings "
          f"max_concurrency {args.max_concurrency}, requests_per_minute "
          f"{args.requests_per_minute}", flush=True)
    with QboSandboxServer(realms=args.realms, size="large", seed=args.seed, latency=True,
                          subprocess_mode=True) as sb, tempfile.TemporaryDirectory() as tmp:
        sb.control("POST", "/_sandbox/limits", json={
            "requests_per_minute": limit, "concurrent": 10, "enabled": True})
        creds = sb.credentials()
        creds["realms"] = creds["realms"][:args.realms]
        realm_ids = [r["realm_id"] for r in creds["realms"]]
        sb.control("POST", "/_sandbox/latency", json={"enabled": False})
        if {"accounts", "customers", "vendors"} & set(chosen):
            warm_up(sb, realm_ids)
        start_date = start_date_for(sb, realm_ids[0], args.scale)
        pages = min_pages(sb, realm_ids, [entity_streams[n] for n in chosen], start_date,
                          args.page_size)
        sb.control("POST", "/_sandbox/latency", json={"enabled": True})
        print(f"start_date {start_date or '(none: whole history)'}; fewest page requests "
              f"(busiest realm, {args.page_size} rows a page) {pages} → rate-limit floor {pages / limit * 60:.1f} s",
              flush=True)

        ours = run_ours(sb, creds, args, start_date, tmp, wanted)
        print(f"streams: {len(ours['streams'])} selected "
              f"({sum(s.endswith('_lines') for s in ours['streams'])} line streams), no reports")
        print(describe("tap-quickbooks-online", ours, limit), flush=True)
        if python is not None:
            theirs = run_tap_quickbooks(sb, creds, python, start_date, tmp, set(chosen))
            print(describe("tap-quickbooks 2.5.0", theirs, limit), flush=True)
            print(f"  speed-up (wall time tap-quickbooks 2.5.0 / tap-quickbooks-online): "
                  f"{theirs['seconds'] / ours['seconds']:.1f}x"
                  f"{'' if args.no_lines else ' (ours also emits the line streams)'}")
        floor = pages / limit * 60
        print(f"  tap-quickbooks-online wall / floor of the fewest pages: "
              f"{ours['seconds'] / floor:.2f}")


if __name__ == "__main__":
    main()
