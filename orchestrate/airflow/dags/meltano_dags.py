"""Airflow DAGs for the Meltano project's schedules: one DAG per schedule, one task per job task.

Each task is `meltano run <blocks>` in the project root (BashOperator), so Meltano keeps doing what
it does from the command line: plugin config per environment, state, the system database.
- schedule: the schedule's cron (`@once` stays `@once`, `@manual` means no schedule);
- catchup off and max_active_runs=1: a pipeline never runs twice at once (state would race);
- retries with exponential backoff and an execution timeout (settings of the `airflow` utility,
  plugins/airflow.meltano.yml → MELTANO_AIRFLOW_* variables);
- schedules with MELTANO_AIRFLOW_REALM_IDS in their env get one task chain per realm, see
  orchestrate/README.md.
Reading and caching `meltano schedule list --format=json` is in meltano_schedules.py (no Airflow
import, unit-tested). Works with Airflow 3 (airflow.sdk) and Airflow 2.7+.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

# The DAGs folder is on sys.path under Airflow's DagBag, but not under every bundle/test runner.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pendulum  # noqa: E402  (ships with Airflow)
from meltano_schedules import GeneratorSettings, build_dag_specs, load_schedules  # noqa: E402

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:  # Airflow 3 / Airflow 2 with the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

# Only used when the schedule has no start date of its own; catchup is off, so no backfill happens.
START_DATE = pendulum.datetime(2024, 1, 1, tz="UTC")


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def default_args() -> dict:
    return {
        "owner": "meltano",
        "depends_on_past": False,
        "retries": _int_env("MELTANO_AIRFLOW_RETRIES", 3),
        "retry_delay": dt.timedelta(seconds=_int_env("MELTANO_AIRFLOW_RETRY_DELAY_SECONDS", 300)),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(hours=1),
        "execution_timeout": dt.timedelta(seconds=_int_env("MELTANO_AIRFLOW_EXECUTION_TIMEOUT_SECONDS", 6 * 3600)),
    }


def build_dags() -> dict[str, DAG]:
    settings = GeneratorSettings.from_env()
    # A single-slot pool shared by every task keeps loads into the same output strictly one at a time.
    pool = {"pool": os.environ["MELTANO_AIRFLOW_POOL"]} if os.environ.get("MELTANO_AIRFLOW_POOL") else {}
    dags: dict[str, DAG] = {}
    for spec in build_dag_specs(load_schedules(settings), settings):
        dag = DAG(
            dag_id=spec.dag_id,
            description=spec.description,
            schedule=spec.schedule,
            start_date=START_DATE,
            catchup=False,
            max_active_runs=1,
            max_active_tasks=spec.max_active_tasks,
            default_args=default_args(),
            tags=list(spec.tags),
        )
        with dag:
            operators = {
                task.task_id: BashOperator(
                    task_id=task.task_id,
                    bash_command=task.bash_command,
                    env=dict(task.env),
                    append_env=True,  # keep PATH, MELTANO_*, TAP_*/TARGET_* secrets from the worker
                    cwd=str(settings.project_root),
                    **pool,
                )
                for task in spec.tasks
            }
            for task in spec.tasks:
                for upstream in task.upstream:
                    operators[upstream] >> operators[task.task_id]
        dags[spec.dag_id] = dag
    return dags


# Module-level names make the DAGs discoverable by every Airflow version's DagBag.
for _dag_id, _dag in build_dags().items():
    globals()[f"dag_{_dag_id}"] = _dag
