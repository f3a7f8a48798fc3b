"""Jobs: get, list (backgroundJobs), cancel."""

from __future__ import annotations

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.clock import iso
from tableau_sandbox.elements import background_job_el, job_el
from tableau_sandbox.rest.base import Ctx, endpoint, paged_list, path_item


@endpoint("tableau:jobs:read")
async def get_job(ctx: Ctx) -> Response:
    return ctx.answer(job_el, ctx.store, path_item(ctx, "job"))


_JOB_FIELDS = {"jobType": lambda j: j.type, "status": lambda j: j.status, "createdAt": lambda j: iso(j.created_at),
               "startedAt": lambda j: iso(j.started_at), "endedAt": lambda j: iso(j.completed_at),
               "priority": lambda j: 50, "title": lambda j: j.type, "subtitle": lambda j: "",
               "notes": lambda j: " ".join(j.notes), "args": lambda j: ""}


@endpoint("tableau:jobs:read")
async def list_jobs(ctx: Ctx) -> Response:
    with ctx.store.lock:
        items = sorted((j for j in ctx.store.jobs.values() if j.site_id == ctx.site.id),
                       key=lambda j: j.created_at, reverse=True)
        root = paged_list(ctx, items, "backgroundJobs", background_job_el, filter_fields=_JOB_FIELDS)
    return ctx.xml(root)


@endpoint("tableau:jobs:update")
async def cancel_job(ctx: Ctx) -> Response:
    job = path_item(ctx, "job")
    if not ctx.sb.runner.cancel(job):
        raise errors.conflict("409000", "The job has already finished and cannot be cancelled.")
    return ctx.answer(job_el, ctx.store, job)
