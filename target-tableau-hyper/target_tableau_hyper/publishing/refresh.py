"""Refreshing datasources and workbooks after a publish (or after a confirmed webhook event).

`auto` picks what each platform supports best: Tableau Cloud has the direct datasource refresh
endpoint; Tableau Server runs the datasource's extract-refresh task (the schedule-based task), and
falls back to the direct endpoint when the datasource has no task.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
import tableauserverclient as TSC

from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.errors import PublishError
from target_tableau_hyper.publishing.jobs import job_id_from_xml, wait_for_job
from target_tableau_hyper.publishing.lookup import find_workbook
from target_tableau_hyper.publishing.session import TableauSession

logger = logging.getLogger(__name__)


def refresh_method(config_refresh: str, flavor: str) -> str | None:
    if config_refresh == "none":
        return None
    if config_refresh == "auto":
        return "datasource" if flavor == "cloud" else "task"
    if config_refresh == "schedule":
        return "task"
    return config_refresh


def _datasource_task(session: TableauSession, datasource_id: str) -> TSC.TaskItem | None:
    tasks, _ = session.call("listing extract-refresh tasks", lambda srv: srv.tasks.get())
    for task in tasks:
        if getattr(task, "target", None) is not None and task.target.id == datasource_id:
            return task
    return None


def _run(session, engine, config, *, run_id, trigger, kind, name, target_id, method, start) -> dict:
    row = audit.start_refresh(
        engine, run_id=run_id, trigger=trigger, target_kind=kind, target_name=name, target_id=target_id, method=method
    )
    try:
        job_id = start()
        if job_id is None:  # Tableau said an identical refresh is already queued (409093)
            audit.finish(engine, audit.refreshes, row, outcome="queued", error="an identical refresh was already queued")
            return {"target": name, "outcome": "queued"}
        audit.finish(engine, audit.refreshes, row, job_id=job_id, outcome="running", finished_at=None,
                     duration_seconds=None)
        if config.wait_for_jobs:
            wait_for_job(session, job_id, timeout_seconds=config.job_timeout_seconds, what=f"refreshing {name}")
            audit.finish(engine, audit.refreshes, row, outcome="succeeded")
            return {"target": name, "job_id": job_id, "outcome": "succeeded"}
        return {"target": name, "job_id": job_id, "outcome": "running"}
    except PublishError as exc:
        audit.finish(engine, audit.refreshes, row, outcome="failed", error=str(exc))
        raise


def refresh_datasource(
    session: TableauSession, engine: sa.Engine, config: PublishConfig, datasource: TSC.DatasourceItem,
    *, run_id: str | None, trigger: str = "publish",
) -> dict | None:
    method = refresh_method(config.refresh, session.flavor)
    if method is None:
        return None
    task = _datasource_task(session, datasource.id) if method == "task" else None
    if method == "task" and task is None:
        logger.warning("datasource %s has no extract-refresh task; refreshing it directly", datasource.name)
        method = "datasource"

    def start() -> str | None:
        if method == "task":
            raw = session.call("running the extract-refresh task", lambda srv: srv.tasks.run(task))
            return job_id_from_xml(raw)
        job = session.call("refreshing the datasource", lambda srv: srv.datasources.refresh(datasource))
        return job.id if job is not None else None

    return _run(session, engine, config, run_id=run_id, trigger=trigger, kind="datasource", name=datasource.name,
                target_id=datasource.id, method=method, start=start)


def refresh_workbooks(
    session: TableauSession, engine: sa.Engine, config: PublishConfig, names: tuple[str, ...], project_id: str,
    *, run_id: str | None, trigger: str = "publish",
) -> list[dict]:
    results = []
    for name in names:
        workbook = find_workbook(session, name, project_id)

        def start(workbook: TSC.WorkbookItem = workbook) -> str | None:
            job = session.call(f"refreshing workbook {workbook.name!r}", lambda srv: srv.workbooks.refresh(workbook))
            return job.id if job is not None else None

        results.append(_run(session, engine, config, run_id=run_id, trigger=trigger, kind="workbook", name=name,
                            target_id=workbook.id, method="workbook", start=start))
    return results
