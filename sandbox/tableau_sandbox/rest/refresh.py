"""Extract refreshes of datasources and workbooks (RefreshExtract jobs and their webhook events)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.elements import job_el
from tableau_sandbox.jobs import JobFailed
from tableau_sandbox.state import Datasource, Job, Workbook
from tableau_sandbox.rest.base import Ctx, check_permission, endpoint, path_item

if TYPE_CHECKING:
    from tableau_sandbox.app import Sandbox


def start_refresh(sb: "Sandbox", site_id: str, ds: Datasource | None = None, wb: Workbook | None = None,
                  task_id: str | None = None) -> Job:
    with sb.store.lock:
        for j in sb.store.jobs.values():
            if (j.type == "RefreshExtract" and j.finish_code is None
                    and ((ds and j.datasource_id == ds.id) or (wb and j.workbook_id == wb.id))):
                raise errors.conflict(errors.CONFLICT_DUPLICATE_EXTRACT_JOB,
                                      "A refresh job for this content is already queued or running.")
        job = sb.runner.new_job(site_id, "RefreshExtract", "extractRefreshJob",
                                datasource_id=ds.id if ds else None, workbook_id=wb.id if wb else None,
                                task_id=task_id)
    kind = "Datasource" if ds else "Workbook"
    item = ds or wb
    sb.notifier.fire(site_id, f"{kind}RefreshStarted", item.id, item.name)

    def work(j: Job) -> None:
        with sb.store.lock:
            targets = [ds] if ds else [sb.store.datasources.get(i) for i in wb.datasource_ids]
            if ds is not None and ds.id not in sb.store.datasources:
                raise JobFailed(f"The data source '{ds.name}' no longer exists.")
            if wb is not None and wb.id not in sb.store.workbooks:
                raise JobFailed(f"The workbook '{wb.name}' no longer exists.")
            missing = [i for i, t in zip(wb.datasource_ids if wb else [ds.id], targets) if t is None]
            if missing:
                raise JobFailed(f"The workbook's published data source(s) {missing} no longer exist.")
            now = sb.store.clock.now()
            for t in targets:
                t.last_refreshed_at = now
            item.updated_at = now

    def done(j: Job) -> None:
        with sb.store.lock:
            task = sb.store.tasks.get(j.task_id) if j.task_id else None
            if task is not None:
                task.consecutive_failed_count = 0 if j.finish_code == 0 else task.consecutive_failed_count + 1
        if j.finish_code == 0:
            sb.notifier.fire(site_id, f"{kind}RefreshSucceeded", item.id, item.name)
        elif j.finish_code == 1:
            sb.notifier.fire(site_id, f"{kind}RefreshFailed", item.id, item.name)

    sb.runner.submit(job, work, done)
    return job


@endpoint("tableau:tasks:run")
async def refresh_datasource(ctx: Ctx) -> Response:
    ds = path_item(ctx, "datasource")
    check_permission(ctx, ds.project_id, "Write")
    job = start_refresh(ctx.sb, ctx.site.id, ds=ds)
    return ctx.answer(job_el, ctx.store, job, status=202)


@endpoint("tableau:tasks:run")
async def refresh_workbook(ctx: Ctx) -> Response:
    wb = path_item(ctx, "workbook")
    check_permission(ctx, wb.project_id, "Write")
    job = start_refresh(ctx.sb, ctx.site.id, wb=wb)
    return ctx.answer(job_el, ctx.store, job, status=202)
