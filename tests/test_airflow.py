"""Airflow orchestration: the `airflow` utility (plugins/airflow.meltano.yml), the DAG generator
(orchestrate/airflow/dags) and real DAG runs through `airflow dags test`.

The generator's logic is tested here without Airflow (it lives in meltano_schedules.py); the Airflow
tests install Airflow once with `meltano install utility airflow` (reused on later runs) and keep
their Airflow home and database under pytest's tmp dir, so the developer's own
.meltano/run/airflow is never touched.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = ROOT / "orchestrate" / "airflow" / "dags"
PLUGIN_FILE = ROOT / "plugins" / "airflow.meltano.yml"
MELTANO = Path(sys.executable).with_name("meltano")
AIRFLOW_VENV = ROOT / ".meltano" / "utilities" / "airflow" / "venv"
AIRFLOW = AIRFLOW_VENV / "bin" / "airflow"
AIRFLOW_PYTHON = AIRFLOW_VENV / "bin" / "python"


def _load_generator():
    spec = importlib.util.spec_from_file_location("meltano_schedules", DAGS_FOLDER / "meltano_schedules.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


ms = _load_generator()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def run(argv, *, env, cwd, timeout):
    """Run a command in its own process group; on timeout the whole group is killed (no leftovers).

    Returns a CompletedProcess; `.log` is stdout and stderr together, for assertion messages."""
    proc = subprocess.Popen(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"{argv} timed out after {timeout} s:\n{(stdout + stderr)[-4000:]}")
    finally:
        # A command may leave grandchildren in its group (BashOperator → meltano → plugins).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    result.log = stdout + "\n" + stderr
    return result


def clean_env(**extra) -> dict[str, str]:
    """The caller's environment without Airflow/Meltano variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MELTANO_", "TAP_", "TARGET_"))}
    env["NO_COLOR"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def processes_with_env(marker: str) -> list[int]:
    """PIDs whose environment contains `marker` (a test-unique path): nothing may outlive a test."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def json_output(text: str):
    """The JSON document an airflow command printed (logs and warnings may share its stdout)."""
    for line in reversed(text.splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise AssertionError(f"no JSON in output:\n{text[-4000:]}")


def write_project(root: Path, meltano_yml: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "meltano.yml").write_text(textwrap.dedent(meltano_yml))
    return root


def settings_for(project: Path, tmp_path: Path, **overrides) -> ms.GeneratorSettings:
    values = dict(
        project_root=project,
        meltano_bin=str(MELTANO),
        cache_path=tmp_path / "cache" / "schedules.json",
        cache_seconds=300,
    )
    values.update(overrides)
    return ms.GeneratorSettings(**values)


# A Meltano project whose only plugin appends a line to $MARKER_FILE: a job that runs in a second.
TINY_PROJECT = """\
    default_environment: dev
    environments:
      - name: dev
    project_id: airflow-test-tiny
    send_anonymous_usage_stats: false
    plugins:
      utilities:
        - name: marker
          namespace: marker
          executable: /bin/sh
          commands:
            write:
              args: -c 'echo "$MARKER_VALUE $MELTANO_RUN_STATE_ID_SUFFIX" >> "$MARKER_FILE"'
            again:
              args: -c 'echo "again" >> "$MARKER_FILE"'
            fail:
              args: -c 'echo "failing on purpose" >&2; exit 3'
    jobs:
      - name: say-hi
        tasks:
          - marker:write
      - name: two-steps
        tasks:
          - - marker:write
            - marker:again
          - marker:again
      - name: steps-then-failure
        tasks:
          - - marker:write
            - marker:again
          - marker:fail
          - marker:again
    schedules:
      - name: tiny-daily
        interval: '@daily'
        job: steps-then-failure
        env:
          MARKER_VALUE: from-airflow
      - name: tiny-once
        interval: '@once'
        job: two-steps
      - name: tiny-manual
        interval: '@manual'
        job: say-hi
      - name: tiny-quarter-hourly
        interval: '*/15 * * * *'
        job: two-steps
"""


# ---------------------------------------------------------------------------------------------
# The generator, without Airflow
# ---------------------------------------------------------------------------------------------


def test_specs_from_real_meltano_schedule_list(tmp_path):
    project = write_project(tmp_path / "project", TINY_PROJECT)
    settings = settings_for(project, tmp_path)
    specs = {s.dag_id: s for s in ms.build_dag_specs(ms.load_schedules(settings), settings)}

    assert set(specs) == {"tiny-daily", "tiny-once", "tiny-manual", "tiny-quarter-hourly"}
    assert specs["tiny-daily"].schedule == "0 0 * * *"  # Meltano's cron_interval for @daily
    assert specs["tiny-once"].schedule == "@once"
    assert specs["tiny-manual"].schedule is None
    assert specs["tiny-quarter-hourly"].schedule == "*/15 * * * *"

    (manual_task,) = specs["tiny-manual"].tasks
    assert manual_task.argv == (str(MELTANO), "run", "marker:write")
    assert manual_task.env == {}
    assert manual_task.bash_command == f"exec {MELTANO} run marker:write"
    assert all(t.env == {"MARKER_VALUE": "from-airflow"} for t in specs["tiny-daily"].tasks)  # schedule env
    assert all(s.max_active_tasks == 1 for s in specs.values())

    # A job task given as a list of blocks is one `meltano run`; job tasks run in order.
    first, second = specs["tiny-once"].tasks
    assert first.argv[1:] == ("run", "marker:write", "marker:again") and first.upstream == ()
    assert second.argv[1:] == ("run", "marker:again") and second.upstream == (first.task_id,)
    assert first.task_id != second.task_id
    daily = specs["tiny-daily"].tasks
    assert [t.upstream for t in daily] == [(), (daily[0].task_id,), (daily[1].task_id,)]


def fake_meltano(tmp_path: Path, schedules: dict) -> tuple[Path, Path, Path]:
    """A stand-in `meltano` whose behaviour the test switches: ok / fail / garbage; counts calls."""
    mode, calls = tmp_path / "fake-mode", tmp_path / "fake-calls"
    mode.write_text("ok")
    calls.write_text("")
    script = tmp_path / "fake-meltano"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"mode = open({str(mode)!r}).read()\n"
        "if mode == 'fail':\n"
        "    sys.stderr.write('meltano.yml: line 3: mapping values are not allowed here\\n'); sys.exit(2)\n"
        "if mode == 'garbage':\n"
        "    print('Usage: meltano [OPTIONS]'); sys.exit(0)\n"
        f"print({json.dumps(json.dumps({'schedules': schedules}))})\n"
    )
    script.chmod(0o755)
    return script, mode, calls


def test_schedule_list_is_cached_until_the_project_changes(tmp_path):
    schedules = {"job": [{"name": "s", "interval": "@hourly", "cron_interval": "0 * * * *", "env": {},
                          "job": {"name": "j", "tasks": ["tap target"]}}], "elt": []}
    project = write_project(tmp_path / "project", "include_paths: ['./plugins/*.meltano.yml']\n")
    (project / "plugins").mkdir()
    script, _, calls = fake_meltano(tmp_path, schedules)
    settings = settings_for(project, tmp_path, meltano_bin=str(script))

    assert ms.load_schedules(settings)["job"][0]["name"] == "s"
    assert ms.load_schedules(settings)["job"][0]["name"] == "s"
    assert calls.read_text().splitlines() == ["schedule list --format=json"]  # second parse: cache

    # A new file matched by include_paths changes the fingerprint: Meltano is asked again.
    (project / "plugins" / "extra.meltano.yml").write_text("plugins: {}\n")
    ms.load_schedules(settings)
    assert len(calls.read_text().splitlines()) == 2

    # An expired cache is refreshed too.
    expired = settings_for(project, tmp_path, meltano_bin=str(script), cache_seconds=0)
    ms.load_schedules(expired)
    assert len(calls.read_text().splitlines()) == 3
    assert oct(settings.cache_path.stat().st_mode & 0o777) == "0o600"


def test_meltano_failure_falls_back_to_cache_or_raises_clearly(tmp_path, caplog):
    schedules = {"job": [{"name": "s", "interval": "@daily", "cron_interval": "0 0 * * *", "env": {},
                          "job": {"name": "j", "tasks": ["tap target"]}}], "elt": []}
    project = write_project(tmp_path / "project", "project_id: x\n")
    script, mode, _ = fake_meltano(tmp_path, schedules)
    settings = settings_for(project, tmp_path, meltano_bin=str(script), cache_seconds=0)

    mode.write_text("fail")
    with pytest.raises(ms.ScheduleSourceError) as no_cache:
        ms.load_schedules(settings)
    message = str(no_cache.value)
    assert "exited 2" in message and "mapping values are not allowed" in message and str(project) in message

    mode.write_text("ok")
    good = ms.load_schedules(settings)
    mode.write_text("fail")
    with caplog.at_level(logging.WARNING):
        assert ms.load_schedules(settings) == good  # stale but last good: the DAGs stay up
    assert "using the schedules cached" in caplog.text

    settings.cache_path.unlink()
    mode.write_text("garbage")
    with pytest.raises(ms.ScheduleSourceError, match="printed no JSON"):
        ms.load_schedules(settings)

    missing = settings_for(project, tmp_path, meltano_bin=str(tmp_path / "no-such-meltano"))
    with pytest.raises(ms.ScheduleSourceError, match="meltano executable not found"):
        ms.load_schedules(missing)


def test_schedules_json_file_replaces_meltano(tmp_path):
    source = tmp_path / "schedules.json"
    source.write_text(json.dumps({"schedules": {"job": [{"name": "x", "job": {"name": "j"}}]}}))
    settings = settings_for(tmp_path, tmp_path, meltano_bin="/nonexistent", schedules_json=source)
    with pytest.raises(ms.ScheduleSourceError, match="'x' has a job without tasks"):
        ms.load_schedules(settings)
    source.write_text("{not json")
    with pytest.raises(ms.ScheduleSourceError, match="cannot read MELTANO_SCHEDULES_JSON"):
        ms.load_schedules(settings)


# The per-realm layout (orchestrate/README.md): one task chain per realm, each with its own state.
REALM_SCHEDULES = {
    "job": [
        {
            "name": "daily-full-per-realm",
            "interval": "0 3 * * *",
            "cron_interval": "0 3 * * *",
            "env": {"MELTANO_AIRFLOW_REALM_IDS": "9130355, 4620816365", "MELTANO_AIRFLOW_MAX_ACTIVE_TASKS": "4"},
            "job": {"name": "qbo-to-tableau", "tasks": ["tap-quickbooks-online target-tableau-hyper"]},
        },
        {
            "name": "hourly-entities-per-realm",
            "interval": "15 * * * *",
            "cron_interval": "15 * * * *",
            "env": {"MELTANO_AIRFLOW_REALM_IDS": '["9130355"]', "SOME_FLAG": "1"},
            "job": {"name": "qbo-entities-to-tableau",
                    "tasks": ["tap-quickbooks-online--entities target-tableau-hyper", "target-tableau-hyper:check"]},
        },
    ],
    "elt": [],
}


def test_per_realm_layout_gives_one_task_per_realm_job_with_its_own_state(tmp_path):
    settings = settings_for(tmp_path, tmp_path)
    specs = {s.dag_id: s for s in ms.build_dag_specs(REALM_SCHEDULES, settings)}

    full = specs["daily-full-per-realm"]
    assert [t.task_id for t in full.tasks] == [
        "realm-9130355.tap-quickbooks-online_target-tableau-hyper",
        "realm-4620816365.tap-quickbooks-online_target-tableau-hyper",
    ]
    for task, realm in zip(full.tasks, ["9130355", "4620816365"]):
        assert task.argv == (str(MELTANO), "run", "--state-id-suffix", f"realm-{realm}",
                             "tap-quickbooks-online", "target-tableau-hyper")
        # Only this realm (the tap syncs realm_ids plus `realms`, hence the empty list); generator keys stay out.
        assert task.env == {"TAP_QUICKBOOKS_ONLINE_REALM_IDS": json.dumps([realm]), "TAP_QUICKBOOKS_ONLINE_REALMS": "[]"}
        assert task.upstream == ()  # realms are independent: one failing realm does not hold up the others
    assert full.max_active_tasks == 4

    hourly = specs["hourly-entities-per-realm"]
    load, check = hourly.tasks
    assert check.upstream == (load.task_id,)  # within a realm, the job's order holds
    assert check.argv[1:5] == ("run", "--state-id-suffix", "realm-9130355", "target-tableau-hyper:check")
    assert load.env == {"SOME_FLAG": "1", "TAP_QUICKBOOKS_ONLINE_REALM_IDS": '["9130355"]',
                        "TAP_QUICKBOOKS_ONLINE_REALMS": "[]"}
    assert hourly.max_active_tasks == 1  # default: realms one after another (one writer per .hyper)


@pytest.mark.slow
def test_realm_task_env_limits_the_tap_config_to_that_realm(tmp_path):
    """What Meltano hands the tap (and the inherited entities tap) under a realm task's environment."""
    (task, *_), = [s.tasks for s in ms.build_dag_specs(REALM_SCHEDULES, settings_for(tmp_path, tmp_path))
                   if s.dag_id == "hourly-entities-per-realm"]
    configured = {"TAP_QUICKBOOKS_ONLINE_REALMS": json.dumps([{"realm_id": "1", "refresh_token": "not-used"}])}
    env = clean_env(**{**configured, **task.env})  # the task's env wins over the worker's, as in BashOperator
    for plugin in ("tap-quickbooks-online", "tap-quickbooks-online--entities"):
        dumped = run([MELTANO, "invoke", "--dump=config", plugin], env=env, cwd=ROOT, timeout=300)
        assert dumped.returncode == 0, dumped.log[-4000:]
        config = json.loads(dumped.stdout)
        assert config["realm_ids"] == ["9130355"] and config["realms"] == []


@pytest.mark.parametrize("value", ["", "12 34", "1,1", "../x", '["a", "b/c"]'])
def test_bad_realm_ids_are_refused(tmp_path, value):
    schedules = json.loads(json.dumps(REALM_SCHEDULES))
    schedules["job"][0]["env"]["MELTANO_AIRFLOW_REALM_IDS"] = value
    with pytest.raises(ms.ScheduleSourceError, match="daily-full-per-realm.*MELTANO_AIRFLOW_REALM_IDS"):
        ms.build_dag_specs(schedules, settings_for(tmp_path, tmp_path))


# ---------------------------------------------------------------------------------------------
# Airflow itself
# ---------------------------------------------------------------------------------------------


def _pinned_airflow_version() -> str:
    match = re.search(r"apache-airflow==([0-9.]+)", PLUGIN_FILE.read_text())
    assert match, "plugins/airflow.meltano.yml must pin apache-airflow==X.Y.Z"
    return match.group(1)


@pytest.fixture(scope="session")
def airflow_installed() -> str:
    """`meltano install utility airflow`, skipped when the pinned version is already installed."""
    version = _pinned_airflow_version()
    installed = list(AIRFLOW_VENV.glob(f"lib/python*/site-packages/apache_airflow-{version}.dist-info"))
    if not (installed and AIRFLOW.exists()):
        result = run([MELTANO, "install", "utility", "airflow"], env=clean_env(), cwd=ROOT, timeout=900)
        assert result.returncode == 0, result.log[-6000:]
    assert AIRFLOW.exists()
    return version


@pytest.fixture(scope="session")
def airflow_home(airflow_installed, tmp_path_factory) -> Path:
    """A migrated Airflow database of the tests' own (SQLite, under pytest's tmp dir)."""
    home = tmp_path_factory.mktemp("airflow-home")
    result = run([AIRFLOW, "db", "migrate"], env=direct_airflow_env(home, ROOT), cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.log[-6000:]
    return home


def direct_airflow_env(home: Path, project: Path, **extra) -> dict[str, str]:
    """What `meltano invoke airflow` exports, for calling the airflow executable directly."""
    values = dict(
        AIRFLOW_HOME=home,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__DAGS_FOLDER=DAGS_FOLDER,
        AIRFLOW__CORE__LOAD_EXAMPLES="false",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=home / "logs",
        MELTANO_PROJECT_ROOT=project,
        MELTANO_BIN=MELTANO,
        MELTANO_AIRFLOW_RETRIES=0,
    )
    return clean_env(**{**values, **extra})


def meltano_invoke_env(home: Path, **extra) -> dict[str, str]:
    """Overrides of the utility's settings through Meltano's own variables (AIRFLOW_<SETTING>)."""
    values = dict(
        AIRFLOW_HOME=home,
        AIRFLOW_DATABASE_SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW_LOGGING_BASE_LOG_FOLDER=home / "logs",
        AIRFLOW_MELTANO_DAGS_RETRIES=0,
    )
    return clean_env(**{**values, **extra})


# Loads the DAGs folder with Airflow's DagBag once per environment overlay (one process: Airflow's
# start-up is the slow part) and prints what the scheduler would see.
DAGBAG_REPORT = """
import inspect, json, os, sys
try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3
except ImportError:
    from airflow.models.dagbag import DagBag  # Airflow 2
kwargs = {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}
reports = []
for overlay in json.loads(sys.argv[2]):
    saved = dict(os.environ)
    os.environ.update(overlay)
    bag = DagBag(dag_folder=sys.argv[1], **kwargs)
    os.environ.clear()
    os.environ.update(saved)
    report = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        schedule = getattr(dag, "schedule", None) or getattr(dag, "schedule_interval", None)  # Airflow 3 / 2
        report["dags"][dag_id] = {
            "schedule": schedule if isinstance(schedule, (str, type(None))) else repr(schedule),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "max_active_tasks": dag.max_active_tasks,
            "tasks": {
                t.task_id: {
                    "bash_command": t.bash_command,
                    "env": t.env,
                    "cwd": t.cwd,
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "exponential_backoff": bool(t.retry_exponential_backoff),
                    "execution_timeout_s": t.execution_timeout.total_seconds(),
                }
                for t in dag.tasks
            },
        }
    reports.append(report)
print("DAGBAG-REPORT " + json.dumps(reports))
"""


def dagbag_reports(env: dict[str, str], overlays: list[dict]) -> list[dict]:
    overlays_json = json.dumps([{k: str(v) for k, v in o.items()} for o in overlays])
    result = run([AIRFLOW_PYTHON, "-c", DAGBAG_REPORT, DAGS_FOLDER, overlays_json], env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.log[-6000:]
    (line,) = [l for l in result.stdout.splitlines() if l.startswith("DAGBAG-REPORT ")]
    return json.loads(line.removeprefix("DAGBAG-REPORT "))


@pytest.mark.slow
def test_project_dags_load_through_meltano_invoke(airflow_home):
    """`meltano invoke airflow dags list`: the project's schedules become DAGs, without import errors."""
    env = meltano_invoke_env(airflow_home)
    listed = run([MELTANO, "invoke", "airflow", "dags", "list", "--local", "-o", "json"], env=env, cwd=ROOT, timeout=300)
    assert listed.returncode == 0, listed.log[-6000:]
    dags = json_output(listed.stdout)
    schedule_list = run([MELTANO, "schedule", "list", "--format=json"], env=clean_env(), cwd=ROOT, timeout=300)
    schedules = json.loads(schedule_list.stdout)["schedules"]
    expected = {s["name"] for s in schedules["job"] + schedules["elt"]}
    assert expected and {d["dag_id"] for d in dags} == expected
    assert {"daily-full", "hourly-entities"} <= expected  # the lead's meltano.yml



@pytest.mark.slow
def test_dags_as_airflow_loads_them(airflow_home, tmp_path):
    """DagBag: the project's DAGs, the per-realm layout and a broken schedule source, in one Airflow process."""
    realm_source = tmp_path / "realm-schedules.json"
    realm_source.write_text(json.dumps({"schedules": REALM_SCHEDULES}))
    broken_source = tmp_path / "broken.json"
    broken_source.write_text('{"schedules": {"job": "not a list"}}')
    project, realm, broken = dagbag_reports(
        direct_airflow_env(airflow_home, ROOT, MELTANO_AIRFLOW_SCHEDULE_CACHE=tmp_path / "c.json"),
        [{}, {"MELTANO_SCHEDULES_JSON": realm_source, "MELTANO_AIRFLOW_RETRIES": 2},
         {"MELTANO_SCHEDULES_JSON": broken_source}],
    )

    assert project["import_errors"] == {}
    listed = run([MELTANO, "schedule", "list", "--format=json"], env=clean_env(), cwd=ROOT, timeout=300)
    schedules = {s["name"]: s for s in json.loads(listed.stdout)["schedules"]["job"]}
    assert set(project["dags"]) == set(schedules)
    for name, schedule in schedules.items():
        dag = project["dags"][name]
        assert dag["schedule"] == schedule["cron_interval"]
        assert dag["catchup"] is False and dag["max_active_runs"] == 1
        commands = [t["bash_command"] for t in dag["tasks"].values()]
        blocks = [" ".join(t) if isinstance(t, list) else t for t in schedule["job"]["tasks"]]
        assert commands == [f"exec {MELTANO} run {b}" for b in blocks]
        for task in dag["tasks"].values():
            assert task["cwd"] == str(ROOT)
            assert task["retries"] == 0  # MELTANO_AIRFLOW_RETRIES from the environment
            assert task["exponential_backoff"] is True and task["execution_timeout_s"] == 6 * 3600
    assert schedules["daily-full"]["job"]["name"] == "qbo-to-tableau"  # the DAG the pipeline test runs

    # The per-realm layout loads in Airflow too (schedules from a JSON file instead of meltano).
    assert realm["import_errors"] == {}
    per_realm = realm["dags"]["daily-full-per-realm"]
    assert per_realm["max_active_runs"] == 1 and per_realm["max_active_tasks"] == 4
    commands = sorted(t["bash_command"] for t in per_realm["tasks"].values())
    assert commands == [
        f"exec {MELTANO} run --state-id-suffix realm-4620816365 tap-quickbooks-online target-tableau-hyper",
        f"exec {MELTANO} run --state-id-suffix realm-9130355 tap-quickbooks-online target-tableau-hyper",
    ]
    assert {t["retries"] for t in per_realm["tasks"].values()} == {2}

    # A schedule source that cannot be read is the DAG file's import error, with the reason.
    assert broken["dags"] == {}
    (error,) = broken["import_errors"].values()
    assert "schedules.job must be a list" in error


@pytest.mark.slow
def test_tiny_job_through_airflow_dags_test_runs_in_order_and_fails_loudly(airflow_home, tmp_path):
    """One `airflow dags test` of a job: two-block task, then a failing task, then one that must not run."""
    project = write_project(tmp_path / "tiny", TINY_PROJECT)
    marker = tmp_path / "marker.txt"
    env = direct_airflow_env(
        airflow_home, project,
        MARKER_FILE=marker,
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path}/meltano.db",
        MELTANO_AIRFLOW_SCHEDULE_CACHE=tmp_path / "cache.json",
    )
    result = run([AIRFLOW, "dags", "test", "tiny-daily"], env=env, cwd=project, timeout=600)

    # The first job task ran both its blocks in one `meltano run`, with the schedule's env.
    assert marker.read_text() == "from-airflow \nagain\n", result.log[-6000:]
    # The failing `meltano run` failed the task and the DAG run, and the job stopped there.
    assert "failing on purpose" in result.log
    assert result.returncode != 0
    assert re.search(r"DagRun Finished: dag_id=tiny-daily.*state=failed", result.log), result.log[-6000:]
    assert processes_with_env(str(tmp_path)) == []


# ---------------------------------------------------------------------------------------------
# The real pipeline through Airflow
# ---------------------------------------------------------------------------------------------


def ensure_pipeline_plugins_installed() -> None:
    """`meltano install` of the tap and target when their virtualenvs are missing (fresh machine)."""
    for kind, name in (("extractor", "tap-quickbooks-online"), ("loader", "target-tableau-hyper")):
        if not (ROOT / ".meltano" / f"{kind}s" / name / "venv" / "bin" / name).exists():
            result = run([MELTANO, "install", kind, name], env=clean_env(), cwd=ROOT, timeout=900)
            assert result.returncode == 0, result.log[-6000:]


def pipeline_env(qbo, tableau, tmp_path: Path) -> dict[str, str]:
    """The dev environment's inputs (as in scripts/demo.py), with every output under tmp_path."""
    qbo_creds = qbo.credentials()
    tab_creds = tableau.credentials()
    realms = [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]} for r in qbo_creds["realms"]]
    return {
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path}/meltano.db",  # state of this test only
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "QBO_SANDBOX_URL": qbo.base_url,
        "TAP_QUICKBOOKS_ONLINE_CLIENT_ID": qbo_creds["client_id"],
        "TAP_QUICKBOOKS_ONLINE_CLIENT_SECRET": qbo_creds["client_secret"],
        "TAP_QUICKBOOKS_ONLINE_REALMS": json.dumps(realms),
        "TAP_QUICKBOOKS_ONLINE_TOKEN_STORE": str(tmp_path / "tokens.json"),
        "TARGET_TABLEAU_HYPER_OUTPUT_DIR": str(tmp_path / "output"),
        "TARGET_TABLEAU_HYPER_PUBLISH": "true",
        "TARGET_TABLEAU_HYPER_TABLEAU_SERVER_URL": tableau.base_url,
        "TARGET_TABLEAU_HYPER_TABLEAU_SITE": tab_creds["site_content_url"],
        "TARGET_TABLEAU_HYPER_TABLEAU_PROJECT": tab_creds["project"],
        "TARGET_TABLEAU_HYPER_TABLEAU_TOKEN_NAME": tab_creds["pat"]["token_name"],
        "TARGET_TABLEAU_HYPER_TABLEAU_TOKEN_SECRET": tab_creds["pat"]["token_secret"],
    }


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a whole daily-full pipeline run through Airflow; slow on a loaded 2-core machine
def test_qbo_to_tableau_dag_runs_against_the_sandboxes(airflow_home, tmp_path):
    """`meltano invoke airflow dags test daily-full`: job qbo-to-tableau, QBO sandbox → .hyper → Tableau sandbox."""
    from qbo_sandbox.testing import QboSandboxServer
    from tableau_sandbox.testing import TableauSandboxServer

    ensure_pipeline_plugins_installed()
    with QboSandboxServer(realms=1, size="demo", seed=11) as qbo, TableauSandboxServer(flavor="server") as tableau:
        settings = pipeline_env(qbo, tableau, tmp_path)
        env = meltano_invoke_env(airflow_home, MELTANO_AIRFLOW_SCHEDULE_CACHE=tmp_path / "cache.json", **settings)
        result = run([MELTANO, "invoke", "airflow", "dags", "test", "daily-full"], env=env, cwd=ROOT, timeout=1500)
        assert result.returncode == 0, result.log[-6000:]
        assert re.search(r"DagRun Finished: dag_id=daily-full.*state=success", result.log), result.log[-6000:]
        assert "exec " + str(MELTANO) + " run tap-quickbooks-online target-tableau-hyper" in result.log

        hyper_files = {p.name for p in (tmp_path / "output").glob("*.hyper")}
        # daily-full is the whole tap: entities, their lines and the reports.
        assert {"invoices.hyper", "invoice_lines.hyper", "general_ledger.hyper", "profit_and_loss.hyper"} <= hyper_files
        published = tableau.control("GET", "/_sandbox/state")["datasources"]
        assert published, "nothing was published to the Tableau sandbox"

        states = run([MELTANO, "state", "list"], env=clean_env(**settings), cwd=ROOT, timeout=300)
        assert "dev:tap-quickbooks-online-to-target-tableau-hyper" in states.stdout, states.log[-4000:]

        # Secrets travel in the environment only, never into Airflow's task logs.
        secrets = [settings["TAP_QUICKBOOKS_ONLINE_CLIENT_SECRET"], settings["TARGET_TABLEAU_HYPER_TABLEAU_TOKEN_SECRET"]]
        secrets += [r["refresh_token"] for r in json.loads(settings["TAP_QUICKBOOKS_ONLINE_REALMS"])]
        logs = result.log + "".join(p.read_text(errors="replace") for p in airflow_home.rglob("*.log"))
        assert not [s for s in secrets if s in logs]
    assert processes_with_env(str(tmp_path)) == []
