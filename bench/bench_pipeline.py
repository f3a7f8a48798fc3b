"""The whole pipeline through the real Meltano CLI: ours vs the same pipeline on Singer SDK defaults.

    .venv/bin/python bench/bench_pipeline.py                     # default: --scale 0.05
    .venv/bin/python bench/bench_pipeline.py --scale 1           # the full `large` company
    .venv/bin/python bench/bench_pipeline.py --scale 0.2 --entities invoices,bills
    .venv/bin/python bench/bench_pipeline.py --only ours         # skip the SDK-default run
    .venv/bin/python bench/bench_pipeline.py --only ours,batch   # RECORD vs BATCH mode only

What runs, for each variant, in one invocation of this script:

* a QBO sandbox of size ``large`` (1 company: ~522,000 transactions, ~1,210,000 lines) in its own
  process, **latency model off and rate limits off** (``POST /_sandbox/limits {"enabled":
  false}``), shared by both variants; its one-time balance pass (name-list balances derived from
  every transaction, minutes on this machine) is triggered before anything is timed;
* **page cache, fairness**: the sandbox renders an uncached page for ~50-350 ms of its own CPU on
  this same 2-core machine and keeps the bytes of the last 30,000 objects (LRU). Whichever variant
  ran first used to pay all the rendering, and at small scales the second read cached pages only.
  So, unless ``--no-warm-cache``, one untimed read of the selection (our tap, output discarded)
  comes first, so both variants meet the same cache state, as warm as the cache can be for that
  selection (the sandbox's CPU per variant is printed: 5.1 vs 6.2 s at ``--scale 0.2``, ~140
  requests each). Ours runs first;
* a temporary Meltano project (this repository's meltano.yml, dev environment) whose plugin
  virtualenvs are installed once and cached in ``$TMPDIR/ml-connector-bench-pipeline-<hash>``
  (re-installed only when a pip_url or a plugin's pyproject.toml changes; installs are editable, so
  current plugin code is always what runs), **byte-compiled** before timing (uv installs no .pyc
  and this machine sets PYTHONDONTWRITEBYTECODE=1: without it every plugin process of both
  variants compiled its imports from source on every run, ~5 CPU-s per run; a deployment runs
  compiled code);
* ``meltano run tap-quickbooks-online target-tableau-hyper`` over the **entity streams and their
  line streams**, the selection of the hourly ``tap-quickbooks-online--entities`` job (the
  financial reports, general ledger included, are excluded and not measured here), Tableau
  publishing off (``output_dir`` only; the audit trail on, as deployed);
* ours in **batch mode**: ``meltano run tap-quickbooks-online--batch target-tableau-hyper`` (the
  extractor of meltano.yml that sets ``batch_config``: records as local JSONL files of 20,000
  records, one Singer BATCH message per file, instead of RECORD lines; same tables, compared);
* the same with ``tap-quickbooks-online--sdk-default target-tableau-hyper--sdk-default``: custom
  plugins (``inherit_from`` the real ones, same virtualenvs and settings) whose executables run
  ``bench/sdk_default/tap.py`` / ``target.py``, the plugins with the SDK's default record path
  switched back on (see those files); the target still writes the same ``.hyper`` files: every
  table of the two outputs is compared row for row (``EXCEPT ALL`` both ways, in Hyper).

``--scale F`` reads the last fraction F of the company's history (``start_date`` chosen by
bisection on the number of invoices, transactions are spread evenly over time, so every
transaction stream and its lines scale alike; name lists older than that start are skipped).
``--entities a,b`` limits the run to those entity streams and their line streams.

Records/s = Singer RECORD messages loaded by the target (``audit_run_streams.records`` of the
run: entity records, line records and the line streams' parent tombstones) / wall time of
``meltano run`` (start of Meltano to its exit: plugin start-up included). CPU: user+system of the
whole process tree (Meltano, which also relays every message from tap to target, the tap, the
target, hyperd) from ``RUSAGE_CHILDREN``, and per process by polling ``/proc``; the sandbox's own
CPU is shown separately and not counted. Peak RSS: ``VmHWM`` (the kernel's high-water mark) of
each process, polled. The machine has 2 shared cores: compare the ratios and the per-CPU-second
rates of one run, not wall numbers across runs.

Latest, 2026-11-26 16:35-16:43 UTC (ninth session: tap line rows decoded by typed msgspec
Structs and a trimmed input catalog; target table set-up inside the first load's attach, array
columns' JSON text built in Arrow; sandbox rendering in runs), ``--scale 0.2 --only ours,batch
--fixed-cost``, load average ~2 (one other process reviewing), page cache warmed, every .hyper
table identical in both variants:

                                         ours (RECORD)   ours (BATCH)
    wall, records/s                      25.5 s, 17,213  24.5 s, 17,891
    records per CPU-second               12,014          12,917
    fixed cost wall s / CPU-s            9.2 / 11.3      9.0 / 11.1
    records/s beyond the fixed cost      26,987          28,344
    records per CPU-s beyond fixed       17,408          19,202
    CPU µs/record beyond fixed: Meltano 9 / 4, tap 10 / 12, target 32 / 29, hyperd 6 / 7
    peak RSS MB tap / target / hyperd / Meltano: 177/767/357/254, 175/692/377/108

The earlier runs below were at load 4-7, so wall rates are not comparable with these; CPU per
record beyond the fixed cost is (57 / 52 µs now against 78-85 / 55-61 µs). The >= 50,000
records/s goal is still NOT met: at ~52 µs a record 2 cores cap the pipeline near 38,000/s before
the fixed cost.

Measured 2026-11-26 00:41-00:57 UTC, ``--scale 0.2 --fixed-cost`` (438,869 records over 47
streams; 2 shared cores, load average 4-7 from other helpers' work; page cache warmed; every
.hyper table identical in both variants):

    ours 64.7 s wall, 6,788 records/s, 8,841 records per CPU-second
    SDK default 458.5 s, 957 records/s, 983 per CPU-second
    -> 7.1x by wall, 9.0x per CPU-second: the >= 6x goal is met at this scale
    fixed cost (nothing to read): ours 22.5 s wall / 14.0 CPU-s, SDK 24.8 s / 16.7 CPU-s
    beyond it: ours 10,419 records/s (12,313 per CPU-s), SDK 1,012 (1,021): 10.3x / 12.1x
    CPU µs per record beyond the fixed cost, ours vs SDK: Meltano's relay 13 vs 85, tap 15 vs 262,
    target 42 vs 602, hyperd 12 vs 30; sandbox CPU 5.1 vs 6.2 s (not counted)
    peak RSS ours / SDK (MB): tap 167 / 96, target 586 / 438, hyperd 376 / 390, Meltano 279 / 304

Same day 00:58-01:03 UTC, ``--scale 0.02 --fixed-cost`` (43,849 records, load 4.7-5.3), against
the last run before these changes (2026-11-25, quiet machine, page cache cold for ours only):

                                         before (ours / SDK)       now (ours / SDK)
    records/s by wall                    1,294 / 543   (2.4x)      1,997 / 598   (3.3x)
    records per CPU-second               2.8x                      2,502 / 746   (3.4x)
    fixed cost, wall s / CPU-s           23.8 / 14.6, SDK 32.9/17.5  16.6 / 12.5, SDK 22.6/15.1
    records/s beyond the fixed cost      4,345 / 917   (4.7x)      8,237 / 865   (9.5x)
    records per CPU-s beyond fixed       8,405 / 1,131 (7.4x)      8,668 / 1,005 (8.6x)
    peak RSS tap / target / hyperd MB    102 / 256 / 173           105 / 224 / 194

At this scale the fixed cost (Meltano's own start-up ~5 s, discovery and Meltano's catalog
handling ~3-4 s, three plugin start-ups) is most of ours' wall time, so the 6x goal is met from
larger runs only (0.2 above).

Batch mode, measured 2026-11-26 09:47-09:58 UTC, ``--scale 0.2 --fixed-cost`` (all three variants in
one run; 2 shared cores, load average 5.9-7.2 from other helpers' work; every .hyper table of the
three outputs identical, EXCEPT ALL):

                                         ours (RECORD)   ours (BATCH)   SDK default
    wall, records/s                      51.8 s, 8,469   46.9 s, 9,356  467.3 s, 939
    records per CPU-second               9,442           10,458         1,025
    fixed cost wall s / CPU-s            16.2 / 12.3     21.7 / 15.7    17.0 / 18.3
    records/s beyond the fixed cost      12,334          17,421         975
    records per CPU-s beyond fixed       12,843          16,731         1,071
    CPU µs/record beyond fixed:
      Meltano's relay                    12              0              77
      tap                                13              13             250
      target                             43              38             580
      hyperd                             10              10             27
    peak RSS MB tap / target / hyperd / Meltano
                                         180/572/398/297 187/654/436/108 107/433/367/307
    -> batch / RECORD: 1.10x by wall, 1.11x per CPU-second; beyond the fixed cost 1.41x by wall,
       1.30x per CPU-second. ours / SDK: 9.0x by wall (12.7x beyond the fixed cost).

Three earlier runs of ours vs batch the same morning (load 5-7) gave batch / RECORD 0.90x by wall
(files of 100,000 records: the target starts on a file only once it is announced, so tap and
target overlapped less), 1.51x (files of 20,000, batch first) and, at ``--scale 0.05 --entities
invoices,bills``, 0.90x (37,533 records: the fixed cost dominates). Wall numbers move with the
machine's load; the CPU per record is the steady signal (three runs at scale 0.2): batch mode takes
Meltano's relay (11-13 µs a record) off the path, 0-6 µs of the tap (RECORD envelopes, the pipe)
and 5-11 µs of the target (line indexing of stdin), i.e. 55-61 instead of 78-85 µs per record. Its fixed cost is 1-3 CPU-s higher
(Meltano's own handling of the inherited extractor, seen with nothing to read: Meltano 5.3 vs 4.5
CPU-s). Peak memory: Meltano 108 MB instead of ~300 (it relays a few lines), the target +80 MB
(a 4 MiB read chunk wrapped, and batches built from whole chunks).

The >= 50,000 records/s end-to-end goal is NOT met in either mode, and cannot be on this machine:
at 55-61 µs of CPU per record (batch mode), 2 cores cap the pipeline near 33,000-36,000 records/s
beyond the fixed cost even with the machine to itself, and the target's ~38 µs (JSON parse of nested
records, flattening, validation, staging) alone allows ~26,000/s per core. The earlier analysis
of RECORD mode follows.

The >= 50,000 records/s end-to-end goal is NOT met, and cannot be on this machine: ours spends
~82 µs of CPU per record beyond the fixed cost (12,300 records per CPU-second), so 2 cores cap it
near 24,000 records/s before Meltano's start-up, discovery and the sandbox's own CPU; Meltano's
line-by-line relay alone (13 µs) allows ~75,000.

Where the wall time went before this session's changes (ours, 0.2 scale, one `meltano run`, 87 s
at load ~2.4, timestamps of the tap's and target's logs): ~4 s Meltano start-up, ~11 s discovery,
Meltano's catalog handling and plugin start-up (every plugin import compiled from source: the
plugin venvs had no .pyc), ~27 s reading (tap, sandbox, target decoding side by side), then **43 s
of Hyper loads after the last record**, one stream after another on one thread: every batch waited
for the end of the input (batches of up to 100,000 rows, a STATE-driven drain only every 60 s).
Now a stream quiet over a STATE interval loads while the next streams are read, two files load at
once, table set-up runs on the loader threads, and the benchmark byte-compiles the venvs (see
target.py `_drain_idle_sinks`, `submit_load`; hyper_store.py `ensure`): the loads end within ~1 s
of the last record and the run is bound by CPU (tap, sandbox, target and hyperd share 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import invoices_changed_since, start_date_for_invoices  # bench/ is sys.path[0] when run as a script

import psutil
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import e2e_support  # noqa: E402
from e2e_support import MELTANO, MeltanoProject, _copy_project, failure_lines, sandbox_env  # noqa: E402

SDK_DEFAULT_DIR = ROOT / "bench" / "sdk_default"
VARIANTS = {
    "ours": ("tap-quickbooks-online", "target-tableau-hyper"),
    # ours in batch mode: records as JSONL files + Singer BATCH messages (meltano.yml)
    "batch": ("tap-quickbooks-online--batch", "target-tableau-hyper"),
    "sdk": ("tap-quickbooks-online--sdk-default", "target-tableau-hyper--sdk-default"),
}
GOAL_RECORDS_PER_SECOND = 50_000
GOAL_RATIO = 6.0


# --- the Meltano project ---------------------------------------------------------------------
def installed_template() -> Path:
    """A Meltano project with the plugin venvs installed; reused while what they hold is unchanged
    (the plugins' pip_urls and pyproject.toml files: installs are editable, code changes need none)."""
    meltano_yml = (ROOT / "meltano.yml").read_text()
    digest = hashlib.sha256(str(ROOT).encode())
    digest.update("\n".join(line for line in meltano_yml.splitlines() if "pip_url" in line).encode())
    for package in ("tap-quickbooks-online", "target-tableau-hyper"):
        digest.update((ROOT / package / "pyproject.toml").read_bytes())
    template = Path(tempfile.gettempdir()) / f"ml-connector-bench-pipeline-{digest.hexdigest()[:12]}"
    if (template / ".installed").exists():
        compile_bytecode(template)
        return template
    # Installed in place: the venvs' console scripts name their python by absolute path.
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir()
    _copy_project(template)
    print(f"installing the plugin virtualenvs once into {template} (meltano install, uv)…", flush=True)
    proc = subprocess.run([MELTANO, "install", "tap-quickbooks-online", "target-tableau-hyper"],
                          cwd=template, env=_base_env(), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"meltano install failed:\n{failure_lines(proc.stderr)}")
    (template / ".installed").touch()
    compile_bytecode(template)
    return template


def compile_bytecode(template: Path) -> None:
    """Byte-compile the plugin virtualenvs and this checkout's two packages, before any timing.

    uv (Meltano's venv backend here) installs without .pyc files, and with
    PYTHONDONTWRITEBYTECODE=1 (set on this machine) Python never writes them, so every plugin
    process (tap discovery, tap, target: the same for both variants) would compile every module
    it imports from source on every run: measured 3.2 -> 1.0 CPU-s for the target's imports, 2.0
    -> 0.6 for the tap's. A deployed pipeline runs from compiled bytecode (Python writes it on the
    first run, or `UV_COMPILE_BYTECODE=1 meltano install`). Up-to-date files are skipped."""
    for kind, plugin, package in (("extractors", "tap-quickbooks-online", "tap_quickbooks_online"),
                                  ("loaders", "target-tableau-hyper", "target_tableau_hyper")):
        venv = template / ".meltano" / kind / plugin / "venv"
        source = ROOT / plugin / package
        subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0",
                        str(venv / "lib"), str(source)],
                       env=_base_env(), capture_output=True, timeout=900, check=False)


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    return env | {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "MELTANO_ENVIRONMENT": "dev"}


def launcher(path: Path, python: Path, script: Path) -> Path:
    """An executable running one of bench/sdk_default's plugins with the plugin venv's python."""
    path.write_text(f'#!/bin/sh\nexec "{python}" "{script}" "$@"\n')
    path.chmod(0o755)
    return path


def make_project(template: Path, dest: Path, select: list[str]) -> MeltanoProject:
    """A fresh project (own system DB, state, output) sharing the template's plugin venvs."""
    dest.mkdir(parents=True)
    _copy_project(dest)  # this checkout's meltano.yml as it is now
    for kind in ("extractors", "loaders"):
        (dest / ".meltano" / kind).mkdir(parents=True)
        for venv in (template / ".meltano" / kind).iterdir():
            (dest / ".meltano" / kind / venv.name).symlink_to(venv)
    bin_dir = dest / "bin"
    bin_dir.mkdir()
    tap_python = template / ".meltano/extractors/tap-quickbooks-online/venv/bin/python"
    target_python = template / ".meltano/loaders/target-tableau-hyper/venv/bin/python"
    tap_exe = launcher(bin_dir / "tap-quickbooks-online-sdk-default", tap_python, SDK_DEFAULT_DIR / "tap.py")
    target_exe = launcher(bin_dir / "target-tableau-hyper-sdk-default", target_python,
                          SDK_DEFAULT_DIR / "target.py")

    yaml = YAML()
    project = yaml.load((dest / "meltano.yml").read_text())
    extractors = project["plugins"]["extractors"]
    loaders = project["plugins"]["loaders"]
    next(p for p in extractors if p["name"] == "tap-quickbooks-online")["select"] = list(select)
    for plugin in extractors:  # the batch-mode extractor (inherits the venv): same selection
        if plugin["name"] == "tap-quickbooks-online--batch":
            plugin["select"] = list(select)
    # An inherited plugin shares its parent's virtualenv and settings; only the executable differs.
    extractors.append({"name": "tap-quickbooks-online--sdk-default", "inherit_from": "tap-quickbooks-online",
                       "executable": str(tap_exe), "select": list(select)})
    loaders.append({"name": "target-tableau-hyper--sdk-default", "inherit_from": "target-tableau-hyper",
                    "executable": str(target_exe)})
    with (dest / "meltano.yml").open("w") as fh:
        yaml.dump(project, fh)
    return MeltanoProject(root=dest, env=_base_env())


def selection(entities: list[str] | None) -> tuple[list[str], list[str]]:
    """(meltano `select` patterns, stream names) of entity streams and their line streams."""
    from tap_quickbooks_online.streams.entities import ENTITY_STREAMS  # noqa: PLC0415
    from tap_quickbooks_online.streams.lines import LINE_TABLE  # noqa: PLC0415

    names = [cls.name for cls in ENTITY_STREAMS]
    wanted = entities or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise SystemExit(f"unknown entity streams {unknown}; choose from {names}")
    streams = list(wanted) + [line for line, parent in LINE_TABLE if parent in wanted]
    return [f"{name}.*" for name in streams], streams


# --- measuring a run -------------------------------------------------------------------------
@dataclass
class ProcessStats:
    role: str
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class RunResult:
    variant: str
    wall: float
    cpu_total: float  # the whole Meltano process tree, exact (RUSAGE_CHILDREN)
    sandbox_cpu: float
    processes: dict[int, ProcessStats] = field(default_factory=dict)
    records: int = 0
    per_stream: dict[str, tuple[int, int]] = field(default_factory=dict)  # stream → (records, inserted)
    requests: int = 0
    output_dir: Path | None = None
    fixed: RunResult | None = None  # the same pipeline run with no record to read (--fixed-cost)

    def role(self, name: str) -> ProcessStats:
        found = [p for p in self.processes.values() if p.role == name]
        return ProcessStats(name, max((p.peak_rss_mb for p in found), default=0.0),
                            sum(p.cpu_seconds for p in found))

    @property
    def rate(self) -> float:
        return self.records / self.wall if self.wall else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.records / self.cpu_total if self.cpu_total else 0.0

    @property
    def steady_rate(self) -> float:
        """records/s beyond the fixed cost of a run (wall minus the empty run's wall)."""
        if self.fixed is None or self.wall <= self.fixed.wall:
            return 0.0
        return self.records / (self.wall - self.fixed.wall)

    @property
    def steady_per_cpu_second(self) -> float:
        if self.fixed is None or self.cpu_total <= self.fixed.cpu_total:
            return 0.0
        return self.records / (self.cpu_total - self.fixed.cpu_total)


def _role(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == root_pid:
        return "meltano"
    text = " ".join(proc.cmdline())
    if "hyperd" in proc.name() or "/hyperd" in text:
        return "hyperd"
    if "tap-quickbooks-online" in text or "sdk_default/tap.py" in text:
        return "tap"
    if "target-tableau-hyper" in text or "sdk_default/target.py" in text:
        return "target"
    return "other"


def _peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far (kernel high-water mark)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def watch(root: psutil.Process, stats: dict[int, ProcessStats], stop: threading.Event) -> None:
    """Poll the process tree under `root`: peak RSS and CPU time of each process."""
    while not stop.is_set():
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for proc in procs:
            try:
                entry = stats.get(proc.pid)
                if entry is None:
                    entry = stats[proc.pid] = ProcessStats(_role(proc, root.pid))
                times = proc.cpu_times()
                entry.cpu_seconds = max(entry.cpu_seconds, times.user + times.system)
                entry.peak_rss_mb = max(entry.peak_rss_mb, _peak_rss_mb(proc.pid))
            except (psutil.Error, OSError):
                pass
        stop.wait(0.2)


def run_variant(variant: str, project: MeltanoProject, sandbox_proc: psutil.Process) -> RunResult:
    tap, target = VARIANTS[variant]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sandbox_before = sandbox_proc.cpu_times()
    stats: dict[int, ProcessStats] = {}
    stop = threading.Event()
    started = time.perf_counter()
    proc = psutil.Popen([MELTANO, "run", tap, target], cwd=project.root, env=project.env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = threading.Thread(target=watch, args=(proc, stats, stop), daemon=True)
    watcher.start()
    out, err = proc.communicate(timeout=3600)
    wall = time.perf_counter() - started
    stop.set()
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sandbox_after = sandbox_proc.cpu_times()
    project.logs.append(out + err)
    if proc.returncode != 0:
        raise SystemExit(f"meltano run {tap} {target} exited {proc.returncode}:\n{failure_lines(err)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sandbox_cpu = (sandbox_after.user - sandbox_before.user) + (sandbox_after.system - sandbox_before.system)
    return RunResult(variant, wall, cpu, sandbox_cpu, stats)


def read_audit(output_dir: Path, result: RunResult) -> None:
    """Records received and rows inserted per stream, from the target's audit trail of the run."""
    path = output_dir / "audit.sqlite"
    if not path.exists():
        raise SystemExit(f"no audit trail at {path}: did the target write to another output_dir?")
    with sqlite3.connect(path) as db:
        runs = db.execute("SELECT run_id, status FROM audit_runs").fetchall()
        if len(runs) != 1 or runs[0][1] != "succeeded":
            raise SystemExit(f"expected one succeeded run in {path}, found {runs}")
        rows = db.execute("SELECT stream, records, inserted FROM audit_run_streams WHERE run_id = ?",
                          (runs[0][0],)).fetchall()
    result.per_stream = {stream: (records or 0, inserted or 0) for stream, records, inserted in rows}
    result.records = sum(r for r, _ in result.per_stream.values())


def differing_tables(ours: Path, sdk: Path) -> dict[str, str]:
    """Streams whose .hyper tables differ between the two outputs (rows compared as multisets)."""
    from tableauhyperapi import Connection, HyperProcess, Telemetry  # noqa: PLC0415

    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hyper, \
            Connection(hyper.endpoint) as conn:
        return e2e_support.differing_tables(ours, sdk, conn)[0]


# --- sandbox and sizing ------------------------------------------------------------------------
def start_date_for(sandbox, fraction: float) -> str:
    """The LastUpdatedTime after which `fraction` of the invoices were last changed."""
    if fraction >= 1:
        return "2000-01-01T00:00:00Z"
    api = sandbox.api(sandbox.realm_ids()[0])
    return start_date_for_invoices(api, invoices_changed_since(api) * fraction)


def warm_sandbox(sb) -> float:
    """Seconds the sandbox spends on its one-time balance pass (Account/Customer/Vendor balances
    are derived from all ~522,000 transactions when first read): done before any timing."""
    api = sb.api(sb.realm_ids()[0])
    started = time.perf_counter()
    for entity in ("Account", "Customer", "Vendor"):
        response = api.session.get(f"{api.base}/query", timeout=3600,  # minutes under load
                                   params={"query": f"SELECT * FROM {entity} MAXRESULTS 1"})
        response.raise_for_status()
    return time.perf_counter() - started


def warm_page_cache(template: Path, workdir: Path, select: list[str], sb, start_date: str) -> float:
    """One untimed read of the run's pages (our tap, output discarded) before either variant.

    The sandbox renders an uncached page for ~50-350 ms of its CPU (on this 2-core machine, next
    to the pipeline) and keeps the last 30,000 objects' bytes (LRU). Without this pass the
    variant that runs first pays the rendering and, when the selection fits in the cache, the
    second reads cached pages only. After it, each variant reads after a full read of the same
    selection (the report prints the sandbox's CPU per variant)."""
    project = make_project(template, workdir / "warm-up", select)
    sandbox_env(project, sb)
    project.env |= {"TAP_QUICKBOOKS_ONLINE_START_DATE": start_date}
    started = time.perf_counter()
    proc = subprocess.run([MELTANO, "invoke", "tap-quickbooks-online"], cwd=project.root, env=project.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"warm-up read failed:\n{failure_lines(proc.stderr)}")
    return time.perf_counter() - started


def measure(variant: str, template: Path, workdir: Path, args: argparse.Namespace, select: list[str],
            sb, start_date: str) -> RunResult:
    sandbox_proc = psutil.Process(sb._proc.pid)  # noqa: SLF001
    fixed = None
    if args.fixed_cost:
        # Nothing changed after this start date: start-up, discovery, one empty page per stream.
        fixed = one_run(variant, template, workdir / f"{variant}-empty", select, sb, sandbox_proc,
                        "2100-01-01T00:00:00Z", args)
    result = one_run(variant, template, workdir / variant, select, sb, sandbox_proc, start_date, args)
    result.fixed = fixed
    return result


def one_run(variant: str, template: Path, root: Path, select: list[str], sb, sandbox_proc: psutil.Process,
            start_date: str, args: argparse.Namespace) -> RunResult:
    """One `meltano run` of `variant` in a fresh project reading changes since `start_date`."""
    project = make_project(template, root, select)
    sandbox_env(project, sb)
    output_dir = project.root / "output" / variant
    project.env |= {
        "TAP_QUICKBOOKS_ONLINE_START_DATE": start_date,
        "TARGET_TABLEAU_HYPER_OUTPUT_DIR": str(output_dir),
        "TARGET_TABLEAU_HYPER__SDK_DEFAULT_OUTPUT_DIR": str(output_dir),
        "TARGET_TABLEAU_HYPER_PUBLISH": "false",
    }
    project.env |= dict(item.split("=", 1) for item in args.set)
    sb.control("DELETE", "/_sandbox/counters")
    result = run_variant(variant, project, sandbox_proc)
    result.output_dir = output_dir
    result.requests = int(sb.control("GET", "/_sandbox/counters").get("requests_total", 0))
    read_audit(output_dir, result)
    if args.keep:
        print(f"  {variant}: project kept at {project.root}")
    return result


# --- report ------------------------------------------------------------------------------------
def report(results: dict[str, RunResult], args: argparse.Namespace, streams: list[str], start_date: str) -> None:
    what = "all entity streams" if not args.entities else ", ".join(args.entities)
    if args.set:
        what += f" [environment: {' '.join(args.set)}]"
    print(f"meltano run, QBO sandbox --size large (1 company), latency off, rate limits off, scale "
          f"{args.scale:g} (start_date {start_date}); {what} + their line streams (reports excluded); "
          f"publishing off, audit on; sandbox page cache warmed before timing: "
          f"{'yes' if args.warm_cache else 'no'}")
    print(f"machine: {psutil.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    header = f"{'':38s}" + "".join(f"{name:>16s}" for name in results)
    print(header)

    def row(label: str, fmt, values) -> None:
        print(f"{label:38s}" + "".join(f"{fmt(v):>16s}" for v in values))

    rs = list(results.values())
    row("records loaded", lambda v: f"{v:,}", [r.records for r in rs])
    row("wall of meltano run (s)", lambda v: f"{v:.1f}", [r.wall for r in rs])
    row("records/s (wall)", lambda v: f"{v:,.0f}", [r.rate for r in rs])
    row("CPU s, pipeline (all processes)", lambda v: f"{v:.1f}", [r.cpu_total for r in rs])
    for role in ("meltano", "tap", "target", "hyperd"):
        row(f"  CPU s, {role} (polled)", lambda v: f"{v:.1f}", [r.role(role).cpu_seconds for r in rs])
    row("records per CPU-second", lambda v: f"{v:,.0f}", [r.per_cpu_second for r in rs])
    if all(r.fixed is not None for r in rs):
        row("fixed cost: wall s (no record)", lambda v: f"{v:.1f}", [r.fixed.wall for r in rs])
        row("fixed cost: CPU s (no record)", lambda v: f"{v:.1f}", [r.fixed.cpu_total for r in rs])
        # n/a: the empty run took longer than the real one (the shared machine's load moved)
        row("records/s beyond fixed cost", lambda v: f"{v:,.0f}" if v else "n/a", [r.steady_rate for r in rs])
        row("records per CPU-s beyond fixed", lambda v: f"{v:,.0f}" if v else "n/a",
            [r.steady_per_cpu_second for r in rs])
        # Where the per-record CPU goes (Meltano relays every line from tap to target itself).
        for role in ("meltano", "tap", "target", "hyperd"):
            row(f"  CPU µs/record beyond fixed, {role}", lambda v: f"{v:,.0f}",
                [max(0.0, r.role(role).cpu_seconds - r.fixed.role(role).cpu_seconds) / max(r.records, 1) * 1e6
                 for r in rs])
    row("CPU s, sandbox (not counted)", lambda v: f"{v:.1f}", [r.sandbox_cpu for r in rs])
    row("sandbox requests", lambda v: f"{v:,}", [r.requests for r in rs])
    for role in ("tap", "target", "hyperd", "meltano"):
        row(f"peak RSS {role} (MB)", lambda v: f"{v:.0f}", [r.role(role).peak_rss_mb for r in rs])

    if "ours" in results and "sdk" in results:
        ours, sdk = results["ours"], results["sdk"]
        if {s: i for s, (_, i) in ours.per_stream.items()} != {s: i for s, (_, i) in sdk.per_stream.items()}:
            print("WARNING: the two variants loaded different rows per stream:")
            for stream in sorted(set(ours.per_stream) | set(sdk.per_stream)):
                print(f"  {stream}: ours {ours.per_stream.get(stream)} sdk {sdk.per_stream.get(stream)}")
        else:
            print(f"rows per stream identical in both variants ({len(ours.per_stream)} streams)")
        ratio = ours.rate / sdk.rate if sdk.rate else 0.0
        cpu_ratio = ours.per_cpu_second / sdk.per_cpu_second if sdk.per_cpu_second else 0.0
        print(f"ratio ours / SDK default: {ratio:.1f}x by wall, {cpu_ratio:.1f}x per CPU-second "
              f"(goal >= {GOAL_RATIO:g}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'} by wall)")
        if ours.fixed is not None and sdk.fixed is not None:
            by_wall = (f"{ours.steady_rate / sdk.steady_rate:.1f}x" if ours.steady_rate and sdk.steady_rate
                       else "n/a")
            by_cpu = (f"{ours.steady_per_cpu_second / sdk.steady_per_cpu_second:.1f}x"
                      if ours.steady_per_cpu_second and sdk.steady_per_cpu_second else "n/a")
            print(f"ratio beyond the fixed cost: {by_wall} by wall, {by_cpu} per CPU-second")
    if "ours" in results and "batch" in results:
        ours, batch = results["ours"], results["batch"]
        if {s: i for s, (_, i) in ours.per_stream.items()} != \
                {s: i for s, (_, i) in batch.per_stream.items()}:
            print("WARNING: RECORD and BATCH mode loaded different rows per stream")
        print(f"ratio batch / RECORD mode: {batch.rate / ours.rate:.2f}x by wall, "
              f"{batch.per_cpu_second / ours.per_cpu_second:.2f}x per CPU-second"
              if ours.rate and ours.per_cpu_second else "ratio batch / RECORD mode: n/a")
        if ours.steady_rate and batch.steady_rate:
            print(f"ratio beyond the fixed cost, batch / RECORD mode: "
                  f"{batch.steady_rate / ours.steady_rate:.2f}x by wall")
    for name in ("ours", "batch"):
        if name in results:
            rate = results[name].rate
            print(f"goal >= {GOAL_RECORDS_PER_SECOND:,} records/s end to end, {name}: "
                  f"{'met' if rate >= GOAL_RECORDS_PER_SECOND else 'NOT met'} ({rate:,.0f}) in this run")
    if args.verbose:
        for name, r in results.items():
            print(f"{name} per stream (records received, rows inserted):")
            for stream in streams:
                if stream in r.per_stream:
                    print(f"  {stream:24s} {r.per_stream[stream][0]:>10,} {r.per_stream[stream][1]:>10,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.05,
                        help="fraction of the large company's history to read (1 = all of it; default 0.05)")
    parser.add_argument("--entities", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                        help="comma-separated entity streams (default all), each with its line stream")
    parser.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                        help=f"comma-separated variants to run, in this order (default all: "
                             f"{','.join(VARIANTS)}), e.g. --only ours,batch")
    parser.add_argument("--fixed-cost", action="store_true",
                        help="also time each pipeline with nothing to read (start-up cost) and print "
                             "the rates beyond it")
    parser.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                        help="extra environment variable for the meltano runs (diagnostics, e.g. "
                             "TARGET_TABLEAU_HYPER_FLATTENING_ENABLED=false; the outputs then differ)")
    parser.add_argument("--no-warm-cache", dest="warm_cache", action="store_false",
                        help="skip the untimed read that puts both variants in front of the same "
                             "sandbox page cache (then the first variant pays the page rendering)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects and outputs")
    parser.add_argument("--verbose", action="store_true", help="per-stream counts")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    if args.only and set(args.only) - set(VARIANTS):
        parser.error(f"--only: unknown variant(s) {sorted(set(args.only) - set(VARIANTS))}")
    select, streams = selection(args.entities)
    template = installed_template()
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    from qbo_sandbox.testing import QboSandboxServer  # noqa: PLC0415

    try:
        with QboSandboxServer(realms=1, size="large", seed=args.seed, latency=False, subprocess_mode=True) as sb:
            sb.control("POST", "/_sandbox/limits", json={"enabled": False})
            if {"accounts", "customers", "vendors"} & set(streams):
                print("sandbox: one-time balance pass over the large company (not timed)…", flush=True)
                print(f"  {warm_sandbox(sb):.0f} s", flush=True)
            start_date = start_date_for(sb, args.scale)
            if args.warm_cache:
                print("sandbox: one untimed read of the selection's pages (page cache, both variants)…",
                      flush=True)
                print(f"  {warm_page_cache(template, workdir, select, sb, start_date):.0f} s", flush=True)
            results = {}
            for variant in (args.only or list(VARIANTS)):
                print(f"running {variant}: meltano run {' '.join(VARIANTS[variant])} …", flush=True)
                results[variant] = measure(variant, template, workdir, args, select, sb, start_date)
        report(results, args, streams, start_date)
        names = list(results)
        for other in names[1:]:
            differing = differing_tables(results[names[0]].output_dir, results[other].output_dir)
            if differing:
                print(f"WARNING: .hyper tables differ between {names[0]} and {other}: {differing}")
            else:
                print(f"every .hyper table is identical in {names[0]} and {other} "
                      "(rows compared with EXCEPT ALL)")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
