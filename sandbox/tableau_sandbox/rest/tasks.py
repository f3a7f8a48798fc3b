"""Extract-refresh tasks and (Tableau Server only) server schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.elements import job_el, schedule_el, task_el
from tableau_sandbox.errors import ApiError
from tableau_sandbox.state import Schedule, Task, new_id
from tableau_sandbox.xmlresp import parse_request, sub
from tableau_sandbox.rest.base import Ctx, endpoint, paged_list, path_item, site_item
from tableau_sandbox.rest.refresh import start_refresh

if TYPE_CHECKING:
    from tableau_sandbox.app import Sandbox


@endpoint("tableau:tasks:read")
async def list_tasks(ctx: Ctx) -> Response:
    with ctx.store.lock:
        root = ctx.root()
        tasks = sub(root, "tasks")
        for t in ctx.store.tasks.values():
            if t.site_id == ctx.site.id:
                task_el(tasks, ctx.store, t)
    return ctx.xml(root)


@endpoint("tableau:tasks:read")
async def get_task(ctx: Ctx) -> Response:
    return ctx.answer(task_el, ctx.store, path_item(ctx, "task"))


@endpoint("tableau:tasks:run")
async def run_task_now(ctx: Ctx) -> Response:
    with ctx.store.lock:
        t = path_item(ctx, "task")
        ds = ctx.store.datasources.get(t.datasource_id) if t.datasource_id else None
        wb = ctx.store.workbooks.get(t.workbook_id) if t.workbook_id else None
    if ds is None and wb is None:
        raise errors.not_found(errors.NOT_FOUND_DATASOURCE, "Task target", t.datasource_id or t.workbook_id or "")
    job = start_refresh(ctx.sb, ctx.site.id, ds=ds, wb=wb if ds is None else None, task_id=t.id)
    return ctx.answer(job_el, ctx.store, job)


@endpoint("tableau:tasks:delete")
async def delete_task(ctx: Ctx) -> Response:
    with ctx.store.lock:
        t = path_item(ctx, "task")
        ctx.store.tasks.pop(t.id)
    return Response(status_code=204)


ALL_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def add_task(sb: "Sandbox", site_id: str, datasource_id: str | None, workbook_id: str | None,
             schedule_id: str | None, frequency: str = "Daily", start_time: str = "23:00:00",
             incremental: bool = False, intervals: list[tuple[str, str]] | None = None) -> Task:
    with sb.store.lock:
        if sb.store.flavor.is_cloud:
            schedule_id = None
            if intervals is None:
                intervals = [("weekDay", d) for d in ALL_WEEKDAYS]
        task = Task(new_id(), site_id, schedule_id, datasource_id, workbook_id, frequency=frequency,
                    start_time=start_time, incremental=incremental, intervals=intervals or [])
        sb.store.tasks[task.id] = task
        return task


@endpoint("tableau:tasks:create")
async def create_task(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    er = req.find("extractRefresh")
    if er is None:
        raise errors.bad_request("The extractRefresh element is missing.")
    ds_el, wb_el = er.find("datasource"), er.find("workbook")
    with ctx.store.lock:
        ds_id = ds_el.get("id") if ds_el is not None else None
        wb_id = wb_el.get("id") if wb_el is not None else None
        if ds_id:
            site_item(ctx, ctx.store.datasources, ds_id, errors.NOT_FOUND_DATASOURCE, "Datasource")
        elif wb_id:
            site_item(ctx, ctx.store.workbooks, wb_id, errors.NOT_FOUND_WORKBOOK, "Workbook")
        else:
            raise errors.bad_request("A datasource or workbook is required.")
    sched = req.find("schedule")
    frequency = sched.get("frequency", "Daily") if sched is not None else "Daily"
    fd = sched.find("frequencyDetails") if sched is not None else None
    start = fd.get("start", "23:00:00") if fd is not None else "23:00:00"
    schedule_id = None
    intervals = [(k, v) for i in (fd.iter("interval") if fd is not None else []) for k, v in i.attrib.items()]
    if ctx.store.flavor.is_cloud:
        if frequency in ("Hourly", "Daily") and not any(k == "weekDay" for k, _ in intervals):
            # Tableau Cloud's answer (seen in tableau-migration-sdk issue #41)
            raise ApiError(409, errors.CONFLICT_NAME, "Bad Request",
                           "Hourly and Daily schedules must have at least one weekDay interval. Valid values for "
                           "weekDay are 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', or "
                           "'Sunday'.")
    else:
        schedule_id = sched.get("id") if sched is not None else None
        if schedule_id and schedule_id not in ctx.store.schedules:
            raise errors.not_found(errors.NOT_FOUND_SCHEDULE, "Schedule", schedule_id)
    task = add_task(ctx.sb, ctx.site.id, ds_id, wb_id, schedule_id, frequency, start,
                    er.get("incremental", "false") == "true", intervals)
    root = ctx.root()
    with ctx.store.lock:
        el = task_el(root, ctx.store, task)
        sched_out = el.find("extractRefresh/schedule")
    # Create Cloud Extract Refresh Task answers <extractRefresh> plus the <schedule> at top level.
    resp_root = ctx.root()
    er_out = el.find("extractRefresh")
    if sched_out is not None:
        er_out.remove(sched_out)
    resp_root.append(er_out)
    if sched_out is not None:
        resp_root.append(sched_out)
    return ctx.xml(resp_root, 200)


# --------------------------------------------------------------------------- schedules (Server only)
def server_only(ctx: Ctx) -> None:
    if ctx.store.flavor.is_cloud:
        raise errors.forbidden(errors.FORBIDDEN_CLOUD_ONLY,
                               "Server schedules are not available on Tableau Cloud. Extract refresh schedules "
                               "are part of each extract refresh task (GET /sites/{site-id}/tasks/extractRefreshes).")


@endpoint("tableau:schedules:read", site_scoped=False)
async def list_schedules(ctx: Ctx) -> Response:
    server_only(ctx)
    with ctx.store.lock:
        root = paged_list(ctx, sorted(ctx.store.schedules.values(), key=lambda s: s.name), "schedules",
                          lambda el, s: schedule_el(el, s, with_details=False))
    return ctx.xml(root)


@endpoint("tableau:schedules:read", site_scoped=False)
async def get_schedule(ctx: Ctx) -> Response:
    server_only(ctx)
    sid = ctx.request.path_params["schedule_id"]
    with ctx.store.lock:
        s = ctx.store.schedules.get(sid)
        if s is None:
            raise errors.not_found(errors.NOT_FOUND_SCHEDULE, "Schedule", sid)
        root = ctx.root()
        schedule_el(root, s)
    return ctx.xml(root)


def add_schedule(sb: "Sandbox", name: str, type_: str = "Extract", frequency: str = "Daily",
                 start_time: str = "23:00:00", weekdays: list[str] | None = None,
                 interval_hours: int | None = None) -> Schedule:
    now = sb.store.clock.now()
    s = Schedule(new_id(), name, type_, frequency, created_at=now, updated_at=now, start_time=start_time,
                 weekdays=weekdays or [], interval_hours=interval_hours)
    with sb.store.lock:
        sb.store.schedules[s.id] = s
    return s


@endpoint("tableau:schedules:create", site_scoped=False)
async def create_schedule(ctx: Ctx) -> Response:
    server_only(ctx)
    req = parse_request(await ctx.request.body())
    sel = req.find("schedule")
    if sel is None or not sel.get("name"):
        raise errors.bad_request("The schedule name is required.")
    if any(s.name == sel.get("name") for s in ctx.store.schedules.values()):
        raise errors.conflict("409021", f"A schedule named '{sel.get('name')}' already exists.")
    fd = sel.find("frequencyDetails")
    weekdays = [i.get("weekDay") for i in fd.iter("interval") if i.get("weekDay")] if fd is not None else []
    hours = next((int(i.get("hours")) for i in fd.iter("interval") if i.get("hours")), None) if fd is not None else None
    s = add_schedule(ctx.sb, sel.get("name"), sel.get("type", "Extract"), sel.get("frequency", "Daily"),
                     fd.get("start", "23:00:00") if fd is not None else "23:00:00", weekdays, hours)
    s.priority = int(sel.get("priority", 50))
    s.execution_order = sel.get("executionOrder", "Parallel")
    root = ctx.root()
    schedule_el(root, s)
    return ctx.xml(root, 201)


@endpoint("tableau:schedules:delete", site_scoped=False)
async def delete_schedule(ctx: Ctx) -> Response:
    server_only(ctx)
    sid = ctx.request.path_params["schedule_id"]
    with ctx.store.lock:
        if ctx.store.schedules.pop(sid, None) is None:
            raise errors.not_found(errors.NOT_FOUND_SCHEDULE, "Schedule", sid)
        for t in [t for t in ctx.store.tasks.values() if t.schedule_id == sid]:
            ctx.store.tasks.pop(t.id)
    return Response(status_code=204)


@endpoint("tableau:tasks:create")
async def add_to_schedule(ctx: Ctx) -> Response:
    server_only(ctx)
    sid = ctx.request.path_params["schedule_id"]
    kind = ctx.request.path_params["kind"]
    req = parse_request(await ctx.request.body())
    tag = "datasource" if kind == "datasources" else "workbook"
    item_el = req.find(f"task/extractRefresh/{tag}")
    if item_el is None:
        raise errors.bad_request(f"The task/extractRefresh/{tag} element is missing.")
    with ctx.store.lock:
        if sid not in ctx.store.schedules:
            raise errors.not_found(errors.NOT_FOUND_SCHEDULE, "Schedule", sid)
        if tag == "datasource":
            site_item(ctx, ctx.store.datasources, item_el.get("id", ""), errors.NOT_FOUND_DATASOURCE, "Datasource")
        else:
            site_item(ctx, ctx.store.workbooks, item_el.get("id", ""), errors.NOT_FOUND_WORKBOOK, "Workbook")
    task = add_task(ctx.sb, ctx.site.id, item_el.get("id") if tag == "datasource" else None,
                    item_el.get("id") if tag == "workbook" else None, sid)
    return ctx.answer(task_el, ctx.store, task)
