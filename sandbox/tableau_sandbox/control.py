"""Control API under ``/_sandbox/...``: credentials, clock, faults, fixtures, permissions, inspection.

Not part of Tableau: tests and the demo use it to set up state and observe what Tableau would show.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tableau_sandbox.rest.tasks import add_schedule, add_task
from tableau_sandbox.rest.workbooks import create_workbook as make_workbook
from tableau_sandbox.clock import iso
from tableau_sandbox.webhooks import EVENTS

if TYPE_CHECKING:
    from tableau_sandbox.app import Sandbox


def _sb(request: Request) -> "Sandbox":
    return request.app.state.sandbox


async def _json(request: Request) -> dict:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON body: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError("the JSON body must be an object")
    return data


def _err(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _NotFound(LookupError):
    """Answered 404 by ``handler``."""


def handler(fn):
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except _NotFound as exc:
            return _err(404, str(exc))
        except (ValueError, KeyError, TypeError) as exc:
            return _err(400, str(exc))
    wrapped.__name__ = fn.__name__
    return wrapped


@handler
async def credentials(request: Request) -> Response:
    return JSONResponse(_sb(request).store.credentials())


@handler
async def state(request: Request) -> Response:
    store = _sb(request).store
    with store.lock:
        return JSONResponse({
            "flavor": store.flavor.name,
            "site": {"id": store.site.id, "name": store.site.name, "content_url": store.site.content_url},
            "user": {"id": store.user.id, "name": store.user.name, "site_role": store.user.site_role},
            "projects": [{"id": p.id, "name": p.name, "parent_id": p.parent_id} for p in store.projects.values()
                         if p.site_id == store.site.id],
            "datasources": [{"id": d.id, "name": d.name, "project_id": d.project_id, "file_type": d.file_ext,
                             "connection_id": d.connection_id, "updated_at": iso(d.updated_at),
                             "last_refreshed_at": iso(d.last_refreshed_at)} for d in store.datasources.values()],
            "workbooks": [{"id": w.id, "name": w.name, "datasource_ids": w.datasource_ids}
                          for w in store.workbooks.values()],
            "sessions": len(store.sessions),
            "limits": store.limits,
        })


@handler
async def clock(request: Request) -> Response:
    store = _sb(request).store
    if request.method == "POST":
        data = await _json(request)
        if "advance_seconds" in data:
            store.clock.advance(float(data["advance_seconds"]))
        elif "advance_minutes" in data:
            store.clock.advance(float(data["advance_minutes"]) * 60)
        elif "set" in data:
            store.clock.set(datetime.fromisoformat(str(data["set"]).replace("Z", "+00:00")))
        elif data.get("reset"):
            store.clock.reset()
        else:
            raise ValueError("expected advance_seconds, advance_minutes, set or reset")
    return JSONResponse({"now": iso(store.clock.now())})


@handler
async def faults(request: Request) -> Response:
    sb = _sb(request)
    if request.method == "DELETE":
        sb.faults.clear()
        sb.runner.faults.update({"delay_seconds": 0.0, "hold": False, "fail": []})
        sb.runner.release()
        return JSONResponse({"cleared": True})
    if request.method == "POST":
        data = await _json(request)
        if "http" in data:
            if not isinstance(data["http"], list):
                raise ValueError("'http' must be a list of rules")
            sb.faults.set([dict(r) for r in data["http"]])
        jobs = data.get("jobs") or {}
        if "delay_seconds" in jobs:
            sb.runner.faults["delay_seconds"] = float(jobs["delay_seconds"])
        if "hold" in jobs:
            sb.runner.faults["hold"] = bool(jobs["hold"])
            if not jobs["hold"]:
                sb.runner.release()
        if "fail" in jobs:
            rule = dict(jobs["fail"])
            rule["remaining"] = int(rule.pop("count", 1))
            sb.runner.faults["fail"].append(rule)
    return JSONResponse({"http": sb.faults.rules, "jobs": sb.runner.faults, "held_requests": sb.faults.held})


@handler
async def release_requests(request: Request) -> Response:
    _sb(request).faults.release()
    return JSONResponse({"released": True})


@handler
async def release_jobs(request: Request) -> Response:
    data = await _json(request)
    n = _sb(request).runner.release(data.get("job_id"))
    return JSONResponse({"released": n})


@handler
async def limits(request: Request) -> Response:
    store = _sb(request).store
    if request.method == "POST":
        data = await _json(request)
        for key in ("single_request_max_bytes", "max_concurrent_requests"):
            if key in data:
                store.limits[key] = None if data[key] is None else int(data[key])
    return JSONResponse(store.limits)


@handler
async def create_workbook(request: Request) -> Response:
    sb = _sb(request)
    data = await _json(request)
    store = sb.store
    project_id = data.get("project_id") or store.project.id
    ds_ids = list(data.get("datasource_ids") or [])
    if project_id not in store.projects:
        raise ValueError(f"unknown project_id {project_id}")
    missing = [d for d in ds_ids if d not in store.datasources]
    if missing:
        raise ValueError(f"unknown datasource_ids {missing}")
    wb = make_workbook(sb, store.site.id, store.user.id, data["name"], project_id, ds_ids)
    return JSONResponse({"id": wb.id, "name": wb.name, "datasource_ids": wb.datasource_ids}, status_code=201)


@handler
async def create_schedule(request: Request) -> Response:
    sb = _sb(request)
    if sb.store.flavor.is_cloud:
        return _err(409, "Tableau Cloud has no server schedules; give tasks a frequency instead")
    data = await _json(request)
    s = add_schedule(sb, data["name"], data.get("type", "Extract"), data.get("frequency", "Daily"),
                         data.get("start_time", "23:00:00"), data.get("weekdays"), data.get("interval_hours"))
    return JSONResponse({"id": s.id, "name": s.name}, status_code=201)


@handler
async def create_task(request: Request) -> Response:
    sb = _sb(request)
    data = await _json(request)
    store = sb.store
    ds_id, wb_id = data.get("datasource_id"), data.get("workbook_id")
    if bool(ds_id) == bool(wb_id):
        raise ValueError("give exactly one of datasource_id or workbook_id")
    if ds_id and ds_id not in store.datasources:
        raise ValueError(f"unknown datasource_id {ds_id}")
    if wb_id and wb_id not in store.workbooks:
        raise ValueError(f"unknown workbook_id {wb_id}")
    schedule_id = data.get("schedule_id")
    if not store.flavor.is_cloud:
        if schedule_id is None:
            schedule_id = next(iter(store.schedules), None)
        if schedule_id not in store.schedules:
            raise ValueError(f"unknown schedule_id {schedule_id}")
    task = add_task(sb, store.site.id, ds_id, wb_id, schedule_id, data.get("frequency", "Daily"),
                        data.get("start_time", "23:00:00"))
    return JSONResponse({"id": task.id, "schedule_id": task.schedule_id}, status_code=201)


def _user_id(store, ref: str | None) -> str:
    if ref is None:
        return store.user.id
    for u in store.users.values():
        if ref in (u.id, u.name):
            return u.id
    raise ValueError(f"unknown user {ref}")


@handler
async def permissions(request: Request) -> Response:
    store = _sb(request).store
    if request.method == "DELETE":
        with store.lock:
            store.denied.clear()
        return JSONResponse({"denied": []})
    if request.method == "POST":
        data = await _json(request)
        if data["project_id"] not in store.projects:
            raise ValueError(f"unknown project_id {data['project_id']}")
        with store.lock:
            store.denied.add((_user_id(store, data.get("user")), data["project_id"],
                              data.get("capability", "Publish")))
    return JSONResponse({"denied": [{"user_id": u, "project_id": p, "capability": c} for u, p, c in store.denied]})


@handler
async def user_role(request: Request) -> Response:
    store = _sb(request).store
    data = await _json(request)
    role = data["site_role"]
    allowed = {"Creator", "Explorer", "ExplorerCanPublish", "Viewer", "Unlicensed", "SiteAdministratorCreator",
               "SiteAdministratorExplorer", "ServerAdministrator"}
    if role not in allowed:
        raise ValueError(f"site_role must be one of {sorted(allowed)}")
    with store.lock:
        user = store.users[_user_id(store, data.get("user"))]
        user.site_role = role
    return JSONResponse({"id": user.id, "name": user.name, "site_role": user.site_role})


@handler
async def counters(request: Request) -> Response:
    sb = _sb(request)
    with sb.store.lock:
        data = dict(sb.store.counters)
    data["concurrency:rejected"] = sb.concurrency.rejected
    return JSONResponse(data)


@handler
async def deliveries(request: Request) -> Response:
    sb = _sb(request)
    if request.query_params.get("wait", "true") != "false":
        await run_in_threadpool(sb.notifier.wait_idle, 10.0)
    with sb.store.lock:
        out = [{"id": d.id, "webhook_id": d.webhook_id, "event_type": d.event_type, "url": d.url,
                "payload": d.payload, "status_code": d.status_code, "error": d.error,
                "delivered_at": d.delivered_at, "test": d.test} for d in sb.store.deliveries]
    return JSONResponse({"deliveries": out, "events": sorted(EVENTS)})


@handler
async def idle(request: Request) -> Response:
    sb = _sb(request)
    jobs_ok = await run_in_threadpool(sb.runner.wait_idle, 20.0)
    hooks_ok = await run_in_threadpool(sb.notifier.wait_idle, 10.0)
    return JSONResponse({"idle": jobs_ok and hooks_ok})


def _datasource(request: Request):
    store = _sb(request).store
    ds = store.datasources.get(request.path_params["datasource_id"])
    if ds is None:
        raise _NotFound(f"unknown datasource {request.path_params['datasource_id']}")
    return ds


@handler
async def datasource_file(request: Request) -> Response:
    sb = _sb(request)
    ds = _datasource(request)
    path = ds.file_path
    if ds.file_ext == "tdsx":
        path = ds.file_path.with_suffix(".data.hyper")
    copy = sb.store.data_dir / "work" / f"download-{ds.id}.{path.suffix.lstrip('.')}"
    with sb.hyper.file_lock(ds.file_path):
        copy.write_bytes(path.read_bytes())
    return FileResponse(copy, media_type="application/octet-stream", filename=f"{ds.name}{path.suffix}",
                        background=None)


@handler
async def datasource_rows(request: Request) -> Response:
    sb = _sb(request)
    ds = _datasource(request)
    path = ds.file_path if ds.file_ext == "hyper" else ds.file_path.with_suffix(".data.hyper")
    schema = request.query_params.get("schema", "Extract")
    table = request.query_params.get("table", "Extract")
    try:
        data = await run_in_threadpool(sb.hyper.read_rows, path, schema, table)
    except KeyError:
        return _err(404, f"table {schema}.{table} not found")
    return JSONResponse(data)


def routes() -> list[Route]:
    p = "/_sandbox"
    return [
        Route(p + "/credentials", credentials, methods=["GET"]),
        Route(p + "/state", state, methods=["GET"]),
        Route(p + "/clock", clock, methods=["GET", "POST"]),
        Route(p + "/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(p + "/faults/release", release_requests, methods=["POST"]),
        Route(p + "/jobs/release", release_jobs, methods=["POST"]),
        Route(p + "/limits", limits, methods=["GET", "POST"]),
        Route(p + "/workbooks", create_workbook, methods=["POST"]),
        Route(p + "/schedules", create_schedule, methods=["POST"]),
        Route(p + "/tasks", create_task, methods=["POST"]),
        Route(p + "/permissions", permissions, methods=["GET", "POST", "DELETE"]),
        Route(p + "/users/role", user_role, methods=["POST"]),
        Route(p + "/counters", counters, methods=["GET"]),
        Route(p + "/webhooks/deliveries", deliveries, methods=["GET"]),
        Route(p + "/idle", idle, methods=["POST"]),
        Route(p + "/datasources/{datasource_id}/file", datasource_file, methods=["GET"]),
        Route(p + "/datasources/{datasource_id}/rows", datasource_rows, methods=["GET"]),
    ]
