"""Jobs: get, list (backgroundJobs), cancel."""

from __future__ import annotations

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.clock import iso
from tableau_sandbox.elements import background_job_el, job_el
from tableau_sandbox.query import apply_filters, paginate, parse_filters
from tableau_sandbox.xmlresp import pagination, sub
from tableau_sandbox.rest.base import Ctx, site_item, endpoint


@endpoint("tableau:jobs:read")
async def get_job(ctx: Ctx) -> Response:
    with ctx.store.lock:
        job = site_item(ctx, ctx.store.jobs, ctx.request.path_params["job_id"], errors.NOT_FOUND_JOB, "Job")
        root = ctx.root()
        job_el(root, ctx.store, job)
    return ctx.xml(root)


@endpoint("tableau:jobs:read")
async def list_jobs(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    with ctx.store.lock:
        items = sorted((j for j in ctx.store.jobs.values() if j.site_id == ctx.site.id),
                       key=lambda j: j.created_at, reverse=True)
        fields = {"jobType": lambda j: j.type, "status": lambda j: j.status, "createdAt": lambda j: iso(j.created_at),
                  "startedAt": lambda j: iso(j.started_at), "endedAt": lambda j: iso(j.completed_at),
                  "priority": lambda j: 50, "title": lambda j: j.type, "subtitle": lambda j: "",
                  "notes": lambda j: " ".join(j.notes), "args": lambda j: ""}
        items = apply_filters(items, parse_filters(params.get("filter")), fields)
        page, number, size, total = paginate(items, params)
        root = ctx.root()
        pagination(root, number, size, total)
        el = sub(root, "backgroundJobs")
        for j in page:
            background_job_el(el, j)
    return ctx.xml(root)


@endpoint("tableau:jobs:update")
async def cancel_job(ctx: Ctx) -> Response:
    job = site_item(ctx, ctx.store.jobs, ctx.request.path_params["job_id"], errors.NOT_FOUND_JOB, "Job")
    if not ctx.sb.runner.cancel(job):
        raise errors.conflict("409000", "The job has already finished and cannot be cancelled.")
    root = ctx.root()
    with ctx.store.lock:
        job_el(root, ctx.store, job)
    return ctx.xml(root)
