"""Records/s of tap-quickbooks-online vs the Singer SDK's default record path, side by side.

Every variant reads the same invoices from the same local QBO sandbox (a subprocess, latency
off, `--size large`), in its own child process writing Singer messages to /dev/null:

* ``ours``: the tap as shipped (query pages decoded straight into compiled row Structs in QBO's
  property order, RECORDs written a page at a time by the compiled msgspec writer, the
  concurrent page pool);
* ``sdk``: the same tap with the SDK's default path switched back on: every value decoded
  to Python (Decimal for fractions), the SDK's record loop and `_write_record_message`
  (selection pruning, recursive type conformance, RecordMessage, simplejson) and its message
  writer (flush per message), no page pool.

``-cpu`` variants take the HTTP exchange out: a first sync records every response, then timed
syncs are served those responses, still decoded and checked by the tap itself
(`_check_response`): that is the tap's own cost per record. ``ours-cpu`` runs with the page
pool (pages decoded in its threads), ``ours-cpu-1`` without it (everything in the main thread),
``sdk-cpu`` is the SDK path. The end-to-end variants are bounded by the sandbox's own serving
speed as well (it shares the machine).

Each variant prints wall time and the CPU time of the tap process (all threads): on a shared,
loaded machine records per CPU second is the steadier number. The clock starts once the tap
has loaded its streams (discovery and catalog: a fixed start-up of each run, printed apart as
``start CPU ms``). Peak RSS of each child is printed (for -cpu it includes the recorded
responses). ``BENCH_PROFILE=1`` prints a cProfile of the timed sync (page pool off).

    .venv/bin/python bench/bench_tap.py [--records 20000] [--with-lines]
        [--variants ours-cpu,ours-cpu-1,sdk-cpu,ours,sdk] [--repeat 3]
        [--tap-quickbooks-python /path/to/venv/bin/python]
    .venv/bin/python bench/bench_tap.py --against /tmp/base-tap/tap-quickbooks-online
        [--records 20000] [--repeat 5]

``--against DIR`` compares this checkout's tap with another checkout's (e.g. ``git worktree add
--detach /tmp/base-tap <commit>``), side by side: the tap CLI itself in a subprocess per run
(its package first on PYTHONPATH), runs of the two alternating, the median of ``--repeat``, the
CPU (user + system) of the tap process, against one sandbox (`large`, latency and rate limits
off). The selection is the hourly job's kind: invoices, bills, payments and journal entries with
their line streams, about ``--records`` invoices. Modes: RECORD messages, batch mode
(`batch_config`, JSONL files), "no change" (the same streams with the state a first run left:
CDC finds nothing; the run's fixed cost: start-up, catalog, token, CDC call) and "none selected"
(start-up and catalog only). µs/record = (the mode's CPU − the "no change" CPU) / records. The
outputs of both are compared (RECORDs without ``time_extracted``, batch file lines, SCHEMA,
STATE with today's server times masked: the sandbox clock moves between runs).

Measured 26 Nov, ours vs e756800 (the session's start), 236,629 records (20,000 invoices,
99,837 invoice lines, 12,078 bills, 36,180 bill lines, 16,104 payments, 32,208 payment lines,
4,026 journal entries, 16,196 journal entry lines), ``--repeat 5``, three runs on the 2 cores
shared with other helpers' test runs (±0.3 s between runs of one tree is common here). CPU s
ours / base (µs/record ours / base), base/ours:

    run, load, ours  RECORD                   batch                    no change      none selected
    15:55 5.4 95f6c54 3.47/4.43 (10.6/12.5) 1.28 3.44/4.29 (10.5/11.9) 1.25 0.96/1.48 1.54 1.36/1.26 0.93
    16:15 4.5 ecf12fc 3.65/4.70 (10.1/12.1) 1.29 4.24/4.63 (12.7/11.8) 1.09 1.25/1.85 1.48 1.48/1.41 0.95
    16:21 3.6 6a79702 3.99/5.06 (10.5/13.6) 1.27 4.30/5.55 (11.8/15.6) 1.29 1.50/1.85 1.23 1.16/1.23 1.06

Outputs identical in every run and mode. "none selected" was worse until 6a79702: a catalog
pruned to nothing reads as none for the SDK, which then built every stream's entry (now one
entry is kept; in-process catalog handling with nothing selected 0.06 s vs 0.27-0.30 s). The
µs/record figures subtract each tree's own "no change" median, so they carry its noise too:
the whole-run ratios (RECORD 1.27-1.29x less CPU, fixed cost 1.23-1.54x) are the steadier
numbers.

Where the CPU went, py-spy of one RECORD run (250 Hz, all threads): imports ~25 % before
(SQLAlchemy, pulled in by the file token store's module, ~12 % of the run), line rows ~23 %
(generic decode of each parent's `Line` into dicts and Decimals, then a dict lookup per
value), page decode ~10 %, socket reads ~8 %, RECORD encoding ~7 %. In-process
(bench-style replay of recorded pages, µs per record of all records): line shaping 5.4 -> 4.1
(invoices, two runs each), 4.3-7.7 -> 3.7-3.8 (journal entries); catalog handling for 54
streams 0.24-0.28 -> 0.05 s.
What stays: the SDK's own imports (singer_sdk pulls joblib -> numpy in this shared venv, fsspec,
jsonschema: ~0.8 s of the ~1 s start-up here; a Meltano plugin venv has no numpy), msgspec
decode of each page and of each parent's lines (object creation: ~3.5 µs a line on this host),
the socket copy.

Measured 25 Nov on the 2-core machine shared with other helpers' jobs (load average 4.5;
20,000 invoices of `large`, ~2.5 KB each; `--repeat 5`):

    variant    invoices  wall s per wall s  CPU s per CPU s start CPU ms  peak RSS
    ours-cpu      20000    0.33      60985   0.19    105737           32  184.2 MB
    ours-cpu-1    20000    0.24      82947   0.19    107529           36  133.9 MB
    sdk-cpu       20000    7.49       2669   7.46      2682           33  130.1 MB
    ours          20000    0.54      37129   0.45     44885           34  158.4 MB
    sdk           20000   10.85       1843   8.08      2476           33   84.1 MB

Two other runs the same hour (load 4.1 and 4.4, best of 3): ours-cpu 102,848 and 102,273,
ours-cpu-1 107,280 and 58,351 (a disturbed run) invoices per CPU second. After the tap read
response bodies in 1 MiB pieces (two runs, load 3.6-3.8, best of 5): ours-cpu 103,976 and
107,490, ours-cpu-1 112,724 and 104,473, ours end to end 48,033 and 47,819 per CPU second
(44,885 before), sdk-cpu 2,404. Before this session's
changes (commit 42e9ed7) the same replay gave 62,000-75,000 per CPU second with the pool off
(alternating old/new runs, load 4-7: new 15-25 % less CPU). Counting the start-up (stream
discovery and catalog, ~35 ms a run) the 20,000-invoice replay is ~89,000 per CPU second.
The pool's wall time in replay is longer than its CPU time: its threads wait for the loaded
machine to schedule them at each GIL hand-over (against the sandbox that waiting overlaps the
network). Every invoice of `large` (89,450) end to end with the pool: peak RSS 149.5 MB.

With ``--tap-quickbooks-python`` (a separate virtualenv holding ``tap-quickbooks==2.5.0`` from
PyPI, whose pinned dependencies clash with ours), the wall time of that tap reading the same
invoices from the same sandbox is printed too; its Intuit hosts are pointed at the sandbox by a
small wrapper (module constants), nothing else is changed.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from support import TAP_QUICKBOOKS_WRAPPER, start_date_for_invoices  # bench/ is sys.path[0] when run as a script


def child(variant: str, base_url: str, start_date: str, with_lines: bool) -> None:
    """Run one variant in this process and print one JSON line of results."""
    from singer_sdk.io_base import SingerWriter  # noqa: PLC0415

    from tap_quickbooks_online.tap import TapQuickBooksOnline  # noqa: PLC0415

    creds = json.loads(os.environ["BENCH_CREDS"])
    config = {
        "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "realms": [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]}
                   for r in creds["realms"]],
        "api_base_url": base_url, "oauth_base_url": base_url,
        "token_store": os.environ["BENCH_TOKENS"], "start_date": start_date,
    }

    class Baseline(TapQuickBooksOnline):
        message_writer_class = SingerWriter
        fast_output = False
        prefetch_enabled = False

    tap_class = Baseline if variant.startswith("sdk") else TapQuickBooksOnline
    probe = tap_class(config=config)
    catalog = probe.catalog_dict
    wanted = {"invoices", "invoice_lines"} if with_lines else {"invoices"}
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in wanted

    def new_tap():
        tap = tap_class(config=config, catalog=catalog)
        if os.environ.get("BENCH_PROFILE") or variant.endswith("-1"):
            tap.prefetch_enabled = False  # every step in the main thread (and the profile)
        return tap

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the Singer output sink
    if "-cpu" in variant:
        result = replay(new_tap)
    else:
        result = timed_sync(new_tap())
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout = sys.__stdout__
    print(json.dumps(result))


def cpu_seconds() -> float:
    """CPU time of this process, every thread (the prefetch workers too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_sync(tap) -> dict:
    """`sync_all`, timed on the wall clock and in process CPU time (cProfile'd with
    BENCH_PROFILE=1, the profile on stderr)."""
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile  # noqa: PLC0415

        profiler = cProfile.Profile()
        profiler.enable()
    start_cpu = cpu_seconds()
    tap.streams  # noqa: B018 - stream discovery and catalog: the run's fixed start-up
    start_cpu = cpu_seconds() - start_cpu
    cpu, started = cpu_seconds(), time.perf_counter()
    tap.sync_all()
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if profiler is not None:
        import pstats  # noqa: PLC0415

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        sys.stderr.flush()
    stream = tap.streams["invoices"]
    records = stream.progress.done if stream.progress else 0
    return {"records": records, "seconds": elapsed, "cpu_seconds": cpu,
            "start_cpu_seconds": start_cpu}


def replay(new_tap) -> dict:
    """The tap's own cost with the HTTP exchange taken out: a first sync records every
    response; a second, timed sync (same catalog, empty state) is served those same responses,
    each still decoded and checked by the tap (`_check_response`) as in a live run."""
    from tap_quickbooks_online.client import QuickBooksStream  # noqa: PLC0415

    recorded: dict[str, t.Any] = {}
    check = QuickBooksStream._check_response  # noqa: SLF001

    def recording_check(self, response, *args, **kwargs):
        recorded[response.request.url] = response
        return check(self, response, *args, **kwargs)

    QuickBooksStream._check_response = recording_check  # noqa: SLF001
    new_tap().sync_all()
    QuickBooksStream._check_response = check  # noqa: SLF001

    def replayed_send(self, realm_id, url, path, envelope, payload=None):
        response = recorded.get(url)
        if response is None:
            msg = f"bench replay: no recorded response for {url}"
            raise RuntimeError(msg)
        return self._check_response(response, realm_id, path, "replay", envelope)  # noqa: SLF001

    QuickBooksStream._send_once = replayed_send  # noqa: SLF001
    runs = [timed_sync(new_tap()) for _ in range(int(os.environ.get("BENCH_REPEAT", "1")))]
    return min(runs, key=lambda r: r["cpu_seconds"])  # the least disturbed by other load




def run_tap_quickbooks(python: str, base_url: str, creds: dict, start_date: str,
                       tmp: str) -> dict:
    """Wall time of singer-io's tap-quickbooks 2.5.0 syncing the same invoices (1 realm)."""
    realm = creds["realms"][0]
    config_path = os.path.join(tmp, "tap-quickbooks-config.json")
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump({"client_id": creds["client_id"], "client_secret": creds["client_secret"],
                   "refresh_token": realm["refresh_token"], "realm_id": realm["realm_id"],
                   "start_date": start_date, "user_agent": "bench"}, handle)
    wrapper = os.path.join(tmp, "run_tap_quickbooks.py")
    with open(wrapper, "w", encoding="utf-8") as handle:
        handle.write(TAP_QUICKBOOKS_WRAPPER)
    env = {**os.environ, "BENCH_BASE_URL": base_url, "OAUTHLIB_INSECURE_TRANSPORT": "1"}
    discovered = subprocess.run([python, wrapper, "--config", config_path, "--discover"],
                                env=env, capture_output=True, text=True, check=True)
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == "invoices"
    catalog_path = os.path.join(tmp, "tap-quickbooks-catalog.json")
    with open(catalog_path, "w", encoding="utf-8") as handle:
        json.dump(catalog, handle)
    started = time.perf_counter()
    run = subprocess.run([python, wrapper, "--config", config_path, "--catalog", catalog_path],
                         env=env, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    records = sum(1 for line in run.stdout.splitlines() if line.startswith('{"type":"RECORD"')
                  or '"type": "RECORD"' in line[:40])
    return {"records": records, "seconds": elapsed}


# ---- side by side against another checkout of the tap (--against) ------------------------------
#: the hourly job's kind of selection: entity streams with their line streams
MIX_STREAMS = ("invoices", "bills", "payments", "journal_entries")
MIX_LINES = {"invoices": "invoice_lines", "bills": "bill_lines", "payments": "payment_lines",
             "journal_entries": "journal_entry_lines"}
_TIME_EXTRACTED = re.compile(rb',"time_extracted":"[^"]*"')
_TAP_MAIN = "from tap_quickbooks_online.cli import main; main()"


def _tap_process_cpu(package_dir: str, arguments: list[str], out_path: str) -> float:
    """Run the tap CLI of `package_dir` (its `tap_quickbooks_online` first on sys.path) with its
    stdout in `out_path`; returns the CPU seconds (user + system) of the tap process."""
    env = {**os.environ, "PYTHONPATH": package_dir}
    with open(out_path, "wb") as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", _TAP_MAIN, *arguments], env=env,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode("utf-8", "replace")[-4000:])
            raise SystemExit(f"tap of {package_dir} failed")
    return usage.ru_utime + usage.ru_stime


def _output_digest(path: str, today: bytes) -> tuple[str, dict[str, int]]:
    """A digest of a run's output (RECORDs without `time_extracted`, batch file lines with their
    stream, SCHEMA and STATE messages with today's server times and signposts masked: the sandbox
    clock moves between runs) and the records per stream. Batch files read are deleted."""
    digest, counts = hashlib.sha256(), {}
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"'):
                stream = line[27:line.index(b'"', 27)].decode()
                counts[stream] = counts.get(stream, 0) + 1
                digest.update(_TIME_EXTRACTED.sub(b"", line))
            elif line.startswith(b'{"type":"BATCH"'):
                message = json.loads(line)
                file_path = message["manifest"][0].removeprefix("file://")
                with open(file_path, "rb") as batch_file:
                    for record in batch_file:
                        counts[message["stream"]] = counts.get(message["stream"], 0) + 1
                        digest.update(message["stream"].encode() + b":" + record)
                os.unlink(file_path)
            else:
                digest.update(re.sub(rb'"' + re.escape(today) + rb'[^"]*"', b'"T"', line))
    return digest.hexdigest()[:16], counts


def against(args: argparse.Namespace) -> None:
    """This checkout's tap vs `args.against`'s, side by side: the tap CLI in a subprocess per run
    (runs alternate, median of `--repeat`), the tap process's CPU; per mode the CPU beyond the
    fixed cost divided by the records, and whether both outputs are identical."""
    from qbo_sandbox.testing import QboSandboxServer  # noqa: PLC0415

    ours_dir = str(Path(__file__).resolve().parent.parent / "tap-quickbooks-online")
    trees = {"ours": ours_dir, "base": str(Path(args.against).resolve())}
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT").encode()
    with QboSandboxServer(realms=1, size="large", seed=42, subprocess_mode=True) as sb, \
            tempfile.TemporaryDirectory() as tmp:
        sb.control("POST", "/_sandbox/limits", json={"enabled": False})
        sb.control("POST", "/_sandbox/latency", json={"enabled": False})
        creds = sb.credentials()
        realm_id = creds["realms"][0]["realm_id"]
        config = {
            "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "realms": [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]}
                       for r in creds["realms"]],
            "api_base_url": sb.base_url, "oauth_base_url": sb.base_url,
            "token_store": os.path.join(tmp, "tokens.json"),
            "start_date": start_date_for_invoices(sb.api(realm_id), args.records),
        }
        paths = {name: os.path.join(tmp, f"{name}.json") for name in
                 ("record", "batch", "catalog", "none", "state")}
        Path(paths["record"]).write_text(json.dumps(config))
        Path(paths["batch"]).write_text(json.dumps({**config, "batch_config": {
            "encoding": {"format": "jsonl", "compression": "none"},
            "storage": {"root": os.path.join(tmp, "batches")}}}))
        out = os.path.join(tmp, "out.jsonl")
        _tap_process_cpu(ours_dir, ["--config", paths["record"], "--discover"], out)
        catalog = json.loads(Path(out).read_text())
        wanted = set(MIX_STREAMS) | set(MIX_LINES.values())
        for selected, name in ((wanted, "catalog"), (set(), "none")):
            for entry in catalog["streams"]:
                for metadata in entry["metadata"]:
                    if metadata["breadcrumb"] == []:
                        metadata["metadata"]["selected"] = entry["tap_stream_id"] in selected
            Path(paths[name]).write_text(json.dumps(catalog))
        # a first run warms the sandbox's caches; its last STATE is the incremental runs' state
        _tap_process_cpu(ours_dir, ["--config", paths["record"], "--catalog", paths["catalog"]],
                         out)
        states = [line for line in Path(out).read_bytes().splitlines()
                  if line.startswith(b'{"type":"STATE"')]
        Path(paths["state"]).write_text(json.dumps(json.loads(states[-1])["value"]))
        modes = {
            "RECORD": ["--config", paths["record"], "--catalog", paths["catalog"]],
            "batch": ["--config", paths["batch"], "--catalog", paths["catalog"]],
            "no change": ["--config", paths["record"], "--catalog", paths["catalog"],
                          "--state", paths["state"]],
            "none selected": ["--config", paths["record"], "--catalog", paths["none"]],
        }
        results: dict[str, dict[str, list[float]]] = {}
        digests: dict[str, dict[str, set[str]]] = {}
        counts: dict[str, dict[str, int]] = {}
        for mode, arguments in modes.items():
            results[mode] = {name: [] for name in trees}
            digests[mode] = {name: set() for name in trees}
            for run in range(args.repeat):
                for name in (trees if run % 2 == 0 else list(trees)[::-1]):
                    results[mode][name].append(_tap_process_cpu(trees[name], arguments, out))
                    digest, counts[mode] = _output_digest(out, today)
                    digests[mode][name].add(digest)
        print(f"tap-quickbooks-online CPU (tap process, user+sys), ours vs {args.against}, "
              f"{', '.join(MIX_STREAMS)} + their lines, 1 realm of `large`, latency and limits "
              f"off, median of {args.repeat} alternating runs (load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        fixed = {name: statistics.median(results["no change"][name]) for name in trees}
        for mode in modes:
            total = sum(counts[mode].values())
            line = f"  {mode:14s} {total:7d} records"
            for name in trees:
                median = statistics.median(results[mode][name])
                line += f"  {name} {median:6.3f} s"
                if total:
                    line += f" ({(median - fixed[name]) / total * 1e6:5.2f} µs/record)"
            same = digests[mode]["ours"] == digests[mode]["base"] and \
                len(digests[mode]["ours"]) == 1
            ratio = statistics.median(results[mode]["base"]) / \
                statistics.median(results[mode]["ours"])
            print(line + f"  ratio base/ours {ratio:.2f}"
                  f"  output {'identical' if same else 'DIFFERS'}")
        print(f"  records per stream: {counts['RECORD']}")
        print("  (µs/record: CPU beyond the run's fixed cost, the median 'no change' run: same "
              "streams, a state after the first run, so CDC finds nothing)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20000,
                        help="approximate number of invoices to read")
    parser.add_argument("--with-lines", action="store_true", help="also emit invoice_lines")
    parser.add_argument("--variants", default="ours-cpu,ours-cpu-1,sdk-cpu,ours,sdk",
                        help="comma-separated subset of ours-cpu,ours-cpu-1,sdk-cpu,ours,sdk")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed replays per -cpu variant; the lowest CPU time is printed")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "BASE_URL", "START_DATE"))
    parser.add_argument("--tap-quickbooks-python",
                        help="python of a virtualenv with tap-quickbooks==2.5.0 installed")
    parser.add_argument("--against", metavar="TAP_PACKAGE_DIR",
                        help="compare with another checkout's tap-quickbooks-online directory "
                             "(e.g. a `git worktree` of an older commit): RECORD and batch mode "
                             "over invoices, bills, payments, journal entries and their lines, "
                             "and the fixed cost")
    args = parser.parse_args()
    if args.against:
        against(args)
        return
    if args.child:
        child(*args.child, with_lines=args.with_lines)
        return

    from qbo_sandbox.testing import QboSandboxServer  # noqa: PLC0415

    with QboSandboxServer(realms=1, size="large", seed=42, subprocess_mode=True) as sb, \
            tempfile.TemporaryDirectory() as tmp:
        creds = sb.credentials()
        realm_id = creds["realms"][0]["realm_id"]
        start_date = start_date_for_invoices(sb.api(realm_id), args.records)
        env = {**os.environ, "BENCH_CREDS": json.dumps(creds), "BENCH_REPEAT": str(args.repeat),
               "BENCH_TOKENS": os.path.join(tmp, "tokens.json")}
        results = {}
        # ours-cpu first: it reads every page once before timing, which also warms the
        # sandbox's per-object byte cache for the two end-to-end variants that follow.
        for variant in args.variants.split(","):
            command = [sys.executable, __file__, "--child", variant, sb.base_url, start_date]
            if args.with_lines:
                command.append("--with-lines")
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            if os.environ.get("BENCH_PROFILE"):
                print(out.stderr, file=sys.stderr)
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        what = "invoices + invoice_lines" if args.with_lines else "invoices"
        print(f"tap-quickbooks-online, {what}, 1 realm, sandbox latency off "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        print(f"  {'variant':10s} {'invoices':>8s} {'wall s':>7s} {'per wall s':>10s} "
              f"{'CPU s':>6s} {'per CPU s':>9s} {'start CPU ms':>12s} {'peak RSS':>9s}")
        for variant, r in results.items():
            r["rate"] = r["records"] / r["seconds"] if r["seconds"] else 0.0
            r["cpu_rate"] = r["records"] / r["cpu_seconds"] if r["cpu_seconds"] else 0.0
            print(f"  {variant:10s} {r['records']:8d} {r['seconds']:7.2f} {r['rate']:10.0f} "
                  f"{r['cpu_seconds']:6.2f} {r['cpu_rate']:9.0f} "
                  f"{r['start_cpu_seconds'] * 1000:12.0f} {r['max_rss_mb']:6.1f} MB")
        print(f"  (-cpu: responses recorded by a first sync, then replayed through the tap's own "
              f"decoding and record path, best of {args.repeat}; ours-cpu with the page pool, "
              f"ours-cpu-1 without; CPU s = the tap process, every thread, from the end of its "
              f"start-up; peak RSS of -cpu includes the recorded responses)")
        for label, ours, sdk in (("end to end", "ours", "sdk"),
                                 ("replayed, page pool", "ours-cpu", "sdk-cpu"),
                                 ("replayed, one thread", "ours-cpu-1", "sdk-cpu")):
            if ours not in results or sdk not in results:
                continue
            print(f"  ratio ours/sdk {label}: {results[ours]['rate'] / results[sdk]['rate']:.1f}x "
                  f"per wall second, {results[ours]['cpu_rate'] / results[sdk]['cpu_rate']:.1f}x "
                  f"per CPU second")
        if args.tap_quickbooks_python and "ours" in results:
            other = run_tap_quickbooks(args.tap_quickbooks_python, sb.base_url, creds,
                                       start_date, tmp)
            print(f"  tap-quickbooks 2.5.0: {other['records']} invoices in "
                  f"{other['seconds']:.2f} s wall (process start to end, incl. token refresh)")
            print(f"  time ratio tap-quickbooks 2.5.0 (whole process) / ours (sync only): "
                  f"{other['seconds'] / results['ours']['seconds']:.1f}x")


if __name__ == "__main__":
    main()
