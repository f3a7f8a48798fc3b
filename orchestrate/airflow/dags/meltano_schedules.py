"""Meltano schedules → plain DAG/task specs. No Airflow import, so it is unit-testable anywhere.

`meltano_dags.py` (beside this file) turns the specs into Airflow DAGs. This module:
- reads `meltano schedule list --format=json` (run in the project root with the project's meltano),
  or a JSON file named by MELTANO_SCHEDULES_JSON (for schedulers without meltano on them);
- caches the parsed output, because Airflow re-parses DAG files every few seconds and starting
  Meltano takes seconds: the cache is reused while meltano.yml and its include_paths files are
  unchanged and younger than MELTANO_AIRFLOW_CACHE_SECONDS; when Meltano fails, the last good
  output is used with a warning, and with no cache the error (with Meltano's stderr) is raised,
  which Airflow shows as the DAG file's import error;
- builds one DAG per schedule and one task per job task (`meltano run <blocks>`), chained in job
  order, and, for schedules whose env has MELTANO_AIRFLOW_REALM_IDS, one chain per realm with
  `meltano run --state-id-suffix realm-<id>` and the tap limited to that realm.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import re
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger(__name__)

# Schedule env keys read by the generator (they configure the DAG, and are not passed to the tasks).
REALM_IDS_KEY = "MELTANO_AIRFLOW_REALM_IDS"  # "123,456" or '["123", "456"]'
MAX_ACTIVE_TASKS_KEY = "MELTANO_AIRFLOW_MAX_ACTIVE_TASKS"  # parallel realm chains per DAG run
GENERATOR_KEYS = frozenset({REALM_IDS_KEY, MAX_ACTIVE_TASKS_KEY})

# What a realm task sets for the tap (Meltano reads kind: array settings from JSON env values; the
# namespace variables apply to tap-quickbooks-online and every plugin inheriting from it). The tap
# syncs realm_ids *plus* every entry of `realms`, so `realms` is emptied: a realm task's tokens
# come from the token store.
REALM_IDS_ENV = "TAP_QUICKBOOKS_ONLINE_REALM_IDS"
REALMS_ENV = "TAP_QUICKBOOKS_ONLINE_REALMS"

_REALM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TASK_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MELTANO_TIMEOUT_SECONDS = 180


class ScheduleSourceError(RuntimeError):
    """The schedules could not be read (Meltano failed or printed something unexpected)."""


@dataclasses.dataclass(frozen=True)
class GeneratorSettings:
    project_root: Path
    meltano_bin: str
    cache_path: Path
    cache_seconds: int
    schedules_json: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> GeneratorSettings:
        root = Path(environ.get("MELTANO_PROJECT_ROOT") or _find_project_root(Path(__file__))).resolve()
        meltano_bin = environ.get("MELTANO_BIN") or _default_meltano_bin(root)
        airflow_home = Path(environ.get("AIRFLOW_HOME") or root / ".meltano" / "run" / "airflow")
        cache = environ.get("MELTANO_AIRFLOW_SCHEDULE_CACHE") or airflow_home / "meltano_schedules.cache.json"
        source = environ.get("MELTANO_SCHEDULES_JSON")
        return cls(
            project_root=root,
            meltano_bin=meltano_bin,
            cache_path=Path(cache),
            cache_seconds=int(environ.get("MELTANO_AIRFLOW_CACHE_SECONDS") or 300),
            schedules_json=Path(source) if source else None,
        )


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    task_id: str
    argv: tuple[str, ...]  # the whole command, meltano executable first
    env: Mapping[str, str]  # added to the worker's environment
    upstream: tuple[str, ...] = ()

    @property
    def bash_command(self) -> str:
        # exec: the meltano process gets Airflow's SIGTERM (timeouts, mark-failed) directly.
        return "exec " + shlex.join(self.argv)


@dataclasses.dataclass(frozen=True)
class DagSpec:
    dag_id: str
    schedule: str | None  # cron expression, "@once", or None (manual only)
    description: str
    tasks: tuple[TaskSpec, ...]
    max_active_tasks: int
    tags: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# Reading the schedules
# ---------------------------------------------------------------------------------------------


def load_schedules(settings: GeneratorSettings) -> dict[str, Any]:
    """The `schedules` object of `meltano schedule list --format=json` ({"job": [...], "elt": [...]})."""
    if settings.schedules_json is not None:
        try:
            return _validated(json.loads(settings.schedules_json.read_text()), str(settings.schedules_json))
        except (OSError, ValueError) as exc:
            raise ScheduleSourceError(f"cannot read MELTANO_SCHEDULES_JSON={settings.schedules_json}: {exc}") from exc

    fingerprint = project_fingerprint(settings.project_root)
    cached = _read_cache(settings.cache_path)
    if cached and cached["fingerprint"] == fingerprint and time.time() - cached["written_at"] < settings.cache_seconds:
        return cached["schedules"]
    try:
        schedules = run_meltano_schedule_list(settings)
    except ScheduleSourceError:
        if cached:
            log.warning(
                "meltano schedule list failed; using the schedules cached at %s (%s)",
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cached["written_at"])),
                settings.cache_path,
                exc_info=True,
            )
            return cached["schedules"]
        raise
    _write_cache(settings.cache_path, {"fingerprint": fingerprint, "written_at": time.time(), "schedules": schedules})
    return schedules


def run_meltano_schedule_list(settings: GeneratorSettings) -> dict[str, Any]:
    argv = [settings.meltano_bin, "schedule", "list", "--format=json"]
    try:
        proc = subprocess.run(
            argv,
            cwd=settings.project_root,
            capture_output=True,
            text=True,
            timeout=MELTANO_TIMEOUT_SECONDS,
            env={**os.environ, "NO_COLOR": "1"},
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise ScheduleSourceError(
            f"meltano executable not found: {settings.meltano_bin!r} (set MELTANO_BIN, or run `make setup`)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ScheduleSourceError(f"`{shlex.join(argv)}` took longer than {MELTANO_TIMEOUT_SECONDS} s") from exc
    if proc.returncode != 0:
        raise ScheduleSourceError(
            f"`{shlex.join(argv)}` in {settings.project_root} exited {proc.returncode}:\n{_tail(proc.stderr)}"
        )
    try:
        document = json.loads(proc.stdout)
    except ValueError as exc:
        raise ScheduleSourceError(f"`{shlex.join(argv)}` printed no JSON: {proc.stdout[:300]!r}") from exc
    return _validated(document, shlex.join(argv))


def project_fingerprint(root: Path) -> str:
    """Changes whenever meltano.yml or a file it includes changes (path, size and mtime)."""
    meltano_yml = root / "meltano.yml"
    files = [meltano_yml]
    try:
        import yaml  # Airflow and Meltano both ship PyYAML

        project = yaml.safe_load(meltano_yml.read_text()) or {}
        for pattern in project.get("include_paths") or []:
            files.extend(Path(p) for p in glob.glob(str(root / pattern), recursive=True))
    except Exception:  # an unreadable meltano.yml: Meltano itself will report it
        pass
    digest = hashlib.sha256()
    for path in sorted(set(files)):
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def _validated(document: Any, source: str) -> dict[str, Any]:
    schedules = document.get("schedules") if isinstance(document, dict) else None
    if not isinstance(schedules, dict):
        raise ScheduleSourceError(f"{source}: expected {{'schedules': {{'job': [...], 'elt': [...]}}}}")
    for kind in ("job", "elt"):
        entries = schedules.setdefault(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("name") for e in entries):
            raise ScheduleSourceError(f"{source}: schedules.{kind} must be a list of named schedules")
    for entry in schedules["job"]:
        tasks = (entry.get("job") or {}).get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise ScheduleSourceError(f"{source}: schedule {entry['name']!r} has a job without tasks")
    return schedules


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        cached = json.loads(path.read_text())
        _validated({"schedules": cached["schedules"]}, str(path))
        float(cached["written_at"]), str(cached["fingerprint"])
        return cached
    except FileNotFoundError:
        return None
    except Exception:
        log.warning("ignoring unreadable schedule cache %s", path, exc_info=True)
        return None


def _write_cache(path: Path, content: dict[str, Any]) -> None:
    # Atomic and private: several DAG-processor processes read it, and schedule env may be sensitive.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(content, handle)
        os.replace(tmp, path)
    except OSError:
        log.warning("cannot write the schedule cache %s; Meltano will be asked on every parse", path, exc_info=True)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no stderr)"


def _find_project_root(start: Path) -> Path:
    for parent in start.resolve().parents:
        if (parent / "meltano.yml").is_file():
            return parent
    raise ScheduleSourceError(f"no meltano.yml above {start}; set MELTANO_PROJECT_ROOT")


def _default_meltano_bin(root: Path) -> str:
    project_venv = root / ".venv" / "bin" / "meltano"
    return str(project_venv) if project_venv.exists() else "meltano"


# ---------------------------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------------------------


def build_dag_specs(schedules: Mapping[str, Any], settings: GeneratorSettings) -> list[DagSpec]:
    specs = [_job_dag(entry, settings) for entry in schedules.get("job", [])]
    specs += [_elt_dag(entry, settings) for entry in schedules.get("elt", [])]
    return specs


def airflow_schedule(entry: Mapping[str, Any]) -> str | None:
    interval = entry.get("interval")
    if interval == "@once":
        return "@once"
    if interval in (None, "", "@manual"):
        return None
    return entry.get("cron_interval") or interval


def parse_realm_ids(value: str, schedule_name: str) -> list[str]:
    value = value.strip()
    realms = json.loads(value) if value.startswith("[") else [part.strip() for part in value.split(",")]
    realms = [str(r) for r in realms if str(r)]
    bad = [r for r in realms if not _REALM_ID.match(r)]
    if bad or not realms or len(set(realms)) != len(realms):
        raise ScheduleSourceError(
            f"schedule {schedule_name!r}: {REALM_IDS_KEY} must list distinct realm IDs "
            f"(letters, digits, - and _), got {value!r}"
        )
    return realms


def _job_dag(entry: Mapping[str, Any], settings: GeneratorSettings) -> DagSpec:
    name = entry["name"]
    env = {str(k): str(v) for k, v in (entry.get("env") or {}).items()}
    task_env = {k: v for k, v in env.items() if k not in GENERATOR_KEYS}
    job = entry["job"]
    blocks = [_blocks(task) for task in job["tasks"]]

    tasks: list[TaskSpec] = []
    if REALM_IDS_KEY in env:
        for realm in parse_realm_ids(env[REALM_IDS_KEY], name):
            realm_env = {**task_env, REALM_IDS_ENV: json.dumps([realm]), REALMS_ENV: "[]"}
            suffix = ["--state-id-suffix", f"realm-{realm}"]
            tasks += _chain(settings, blocks, realm_env, suffix, prefix=f"realm-{realm}.")
        max_active_tasks = int(env.get(MAX_ACTIVE_TASKS_KEY) or 1)
    else:
        tasks += _chain(settings, blocks, task_env, [], prefix="")
        max_active_tasks = 1
    return DagSpec(
        dag_id=name,
        schedule=airflow_schedule(entry),
        description=f"Meltano job {job['name']!r} (schedule {name!r}, interval {entry.get('interval')!r})",
        tasks=tuple(tasks),
        max_active_tasks=max(1, max_active_tasks),
        tags=("meltano", f"job:{job['name']}"),
    )


def _elt_dag(entry: Mapping[str, Any], settings: GeneratorSettings) -> DagSpec:
    # Legacy extractor/loader schedules: Meltano knows how to run them by name.
    name = entry["name"]
    argv = (settings.meltano_bin, "schedule", "run", name)
    env = {str(k): str(v) for k, v in (entry.get("env") or {}).items()}
    return DagSpec(
        dag_id=name,
        schedule=airflow_schedule(entry),
        description=f"Meltano ELT schedule {name!r} ({entry.get('extractor')} → {entry.get('loader')})",
        tasks=(TaskSpec(task_id=_task_id(f"schedule-run.{name}"), argv=argv, env=env),),
        max_active_tasks=1,
        tags=("meltano", "elt"),
    )


def _blocks(task: Any) -> list[str]:
    # A job task is "tap target" or a list of blocks (["tap target", "dbt:run"]); both mean one `meltano run`.
    parts = task if isinstance(task, list) else [task]
    blocks: list[str] = []
    for part in parts:
        blocks += shlex.split(str(part))
    if not blocks:
        raise ScheduleSourceError(f"empty job task {task!r}")
    return blocks


def _chain(
    settings: GeneratorSettings, job_blocks: list[list[str]], env: dict[str, str], extra: list[str], prefix: str
) -> list[TaskSpec]:
    # Job tasks run in order, each after the previous one succeeded (Meltano's own job semantics).
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    for index, blocks in enumerate(job_blocks):
        task_id = _task_id(prefix + "_".join(blocks))
        if task_id in seen:
            task_id = _task_id(f"{prefix}{index}.{'_'.join(blocks)}")
        seen.add(task_id)
        argv = (settings.meltano_bin, "run", *extra, *blocks)
        upstream = (tasks[-1].task_id,) if tasks else ()
        tasks.append(TaskSpec(task_id=task_id, argv=argv, env=dict(env), upstream=upstream))
    return tasks


def _task_id(text: str) -> str:
    return _TASK_ID_UNSAFE.sub("_", text).strip("_")[:250]
