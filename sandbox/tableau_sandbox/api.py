"""The Tableau REST API routes (``/api/{version}/...``)."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from tableau_sandbox import auth, errors
from tableau_sandbox.clock import iso
from tableau_sandbox.elements import (background_job_el, datasource_el, job_el, project_el, schedule_el, task_el,
                                      webhook_el, workbook_el)
from tableau_sandbox.errors import ApiError
from tableau_sandbox.hyperfiles import ActionError, extract_hyper_from_tdsx, validate_actions
from tableau_sandbox.jobs import JobFailed
from tableau_sandbox.jsonwire import wants_json, xml_bytes_to_json_response
from tableau_sandbox.multipart import parse_multipart
from tableau_sandbox.query import apply_filters, apply_sort, paginate, parse_filters
from tableau_sandbox.state import (Datasource, Job, Project, Schedule, Session, Site, Task, UploadSession, Webhook,
                                   Workbook, new_id)
from tableau_sandbox.webhooks import destination_allowed, event_from_xml_name
from tableau_sandbox.xmlresp import error_response, pagination, parse_request, sub, ts_response, xml_response

if TYPE_CHECKING:
    from tableau_sandbox.app import Sandbox

_VERSION = re.compile(r"^[23]\.\d{1,2}$")
MB = 1024 * 1024
DATASOURCE_TYPES = ("hyper", "tdsx", "tds", "tde", "parquet")


@dataclass
class Ctx:
    sb: "Sandbox"
    request: Request
    version: str
    session: Session | None = None

    @property
    def store(self):
        return self.sb.store

    @property
    def site(self) -> Site:
        assert self.session is not None
        return self.store.sites[self.session.site_id]

    @property
    def base_url(self) -> str:
        return str(self.request.base_url).rstrip("/")

    def xml(self, root: ET.Element, status: int = 200) -> Response:
        return xml_response(root, status)

    def root(self) -> ET.Element:
        return ts_response(self.version)


Handler = Callable[[Ctx], Awaitable[Response]]


def endpoint(scope: str | None = None, authenticated: bool = True, site_scoped: bool = True):
    """Wrap a handler: API version, session, site, JWT scope, faults, concurrency, counters, errors."""

    def deco(fn: Handler):
        async def handler(request: Request) -> Response:
            sb: Sandbox = request.app.state.sandbox
            version = request.path_params.get("version", "")
            route_name = f"{request.method} {fn.__name__}"
            sb.store.count(f"route:{route_name}")
            slot = None
            try:
                if not _VERSION.match(version):
                    raise ApiError(404, "404000", "Resource Not Found", f"Invalid API version '{version}'.")
                ctx = Ctx(sb, request, version)
                if authenticated:
                    ctx.session = auth.session_for(sb.store, request.headers.get("x-tableau-auth"))
                    slot = sb.concurrency.acquire(ctx.session.site_id)
                # after the slot is taken: a slow or held request counts against Cloud's concurrency limit
                await sb.faults.apply(request, route_name)
                if authenticated:
                    if site_scoped:
                        site_id = request.path_params.get("site_id")
                        if site_id != ctx.session.site_id:
                            if site_id not in sb.store.sites:
                                raise errors.not_found(errors.NOT_FOUND_SITE, "Site", site_id or "")
                            raise errors.forbidden("403000", "The credentials token is not valid for this site.")
                    if scope:
                        auth.require_scope(ctx.session, scope)
                response = await fn(ctx)
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.summary, exc.detail,
                                          version if _VERSION.match(version) else "3.25", exc.headers)
            finally:
                if slot is not None:
                    sb.concurrency.release(slot)
            sb.store.count(f"status:{response.status_code}")
            if wants_json(request.headers.get("accept")) and (response.media_type or "").startswith("application/xml"):
                response = xml_bytes_to_json_response(response.body, response.status_code, dict(response.headers))
            return response

        handler.__name__ = fn.__name__
        return handler

    return deco


# --------------------------------------------------------------------------- helpers
def _site_item(ctx: Ctx, mapping: dict, item_id: str, code: str, what: str):
    with ctx.store.lock:
        item = mapping.get(item_id)
        if item is None or getattr(item, "site_id", ctx.site.id) != ctx.site.id:
            raise errors.not_found(code, what, item_id)
        return item


def _flag(params, name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def _content_url(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "", name) or "datasource"
    candidate, n = base, 0
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def _check_permission(ctx: Ctx, project_id: str, capability: str) -> None:
    assert ctx.session is not None
    if (ctx.session.user_id, project_id, capability) in ctx.store.denied:
        raise errors.forbidden(errors.FORBIDDEN_PUBLISH,
                               f"The user does not have the '{capability}' permission on project '{project_id}'.")


# --------------------------------------------------------------------------- server info / auth
@endpoint(authenticated=False)
async def server_info(ctx: Ctx) -> Response:
    f = ctx.store.flavor
    root = ctx.root()
    info = sub(root, "serverInfo")
    sub(info, "productVersion", {"build": f.build}, f.product_version)
    sub(info, "prepConductorVersion", text="2025.1")
    sub(info, "restApiVersion", text=f.rest_api_version)
    sub(info, "platform", text="linux")
    return ctx.xml(root)


@endpoint(authenticated=False)
async def sign_in(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    session = auth.sign_in(ctx.store, req)
    site = ctx.store.sites[session.site_id]
    root = ctx.root()
    cred = sub(root, "credentials", {"token": session.token,
                                     "estimatedTimeToExpiration": _ttl(ctx.store.flavor.session_minutes)})
    sub(cred, "site", {"id": site.id, "contentUrl": site.content_url})
    sub(cred, "user", {"id": session.user_id})
    return ctx.xml(root)


def _ttl(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}:00"


@endpoint(authenticated=False)
async def sign_out(ctx: Ctx) -> Response:
    token = ctx.request.headers.get("x-tableau-auth")
    auth.session_for(ctx.store, token)
    auth.sign_out(ctx.store, token)
    return Response(status_code=204)


@endpoint(site_scoped=False)
async def get_site(ctx: Ctx) -> Response:
    site_id = ctx.request.path_params["site_id"]
    key = ctx.request.query_params.get("key", "id")
    with ctx.store.lock:
        if key == "contentUrl":
            site = next((s for s in ctx.store.sites.values() if s.content_url == site_id), None)
        elif key == "name":
            site = next((s for s in ctx.store.sites.values() if s.name == site_id), None)
        else:
            site = ctx.store.sites.get(site_id)
    if site is None or site.id != ctx.site.id:
        raise errors.not_found(errors.NOT_FOUND_SITE, "Site", site_id)
    root = ctx.root()
    sub(root, "site", {"id": site.id, "name": site.name, "contentUrl": site.content_url, "adminMode": "ContentAndUsers",
                       "state": "Active"})
    return ctx.xml(root)


@endpoint(site_scoped=False)
async def list_sites(ctx: Ctx) -> Response:
    root = ctx.root()
    pagination(root, 1, 100, 1)
    sites = sub(root, "sites")
    s = ctx.site
    sub(sites, "site", {"id": s.id, "name": s.name, "contentUrl": s.content_url, "state": "Active"})
    return ctx.xml(root)


# --------------------------------------------------------------------------- projects
def _project_fields(ctx: Ctx) -> dict[str, Callable[[Project], Any]]:
    users = ctx.store.users
    return {
        "name": lambda p: p.name, "parentProjectId": lambda p: p.parent_id or "",
        "ownerName": lambda p: users[p.owner_id].name if p.owner_id in users else "",
        "topLevelProject": lambda p: p.parent_id is None, "createdAt": lambda p: iso(p.created_at),
        "updatedAt": lambda p: iso(p.updated_at), "description": lambda p: p.description,
        "id": lambda p: p.id,
    }


@endpoint("tableau:content:read")
async def list_projects(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    with ctx.store.lock:
        items = [p for p in ctx.store.projects.values() if p.site_id == ctx.site.id]
        fields = _project_fields(ctx)
        items = apply_filters(items, parse_filters(params.get("filter")), fields)
        items = apply_sort(items, params.get("sort"), fields)
        page, number, size, total = paginate(items, params)
        root = ctx.root()
        pagination(root, number, size, total)
        el = sub(root, "projects")
        for p in page:
            project_el(el, ctx.store, p)
    return ctx.xml(root)


@endpoint("tableau:projects:create")
async def create_project(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    pel = req.find("project")
    if pel is None or not pel.get("name"):
        raise errors.bad_request("A project name is required.")
    name, parent = pel.get("name", ""), pel.get("parentProjectId") or None
    with ctx.store.lock:
        if parent is not None:
            _site_item(ctx, ctx.store.projects, parent, errors.NOT_FOUND_PROJECT, "Project")
            _check_permission(ctx, parent, "ProjectLeader")
        if any(p.site_id == ctx.site.id and p.parent_id == parent and p.name.lower() == name.lower()
               for p in ctx.store.projects.values()):
            raise errors.conflict(errors.CONFLICT_PROJECT_NAME,
                                  f"A project named '{name}' already exists in this location.")
        p = ctx.store.projects_add(ctx.site.id, name, pel.get("description", ""), ctx.session.user_id, parent,
                                   ctx.store.clock.now())
        p.content_permissions = pel.get("contentPermissions", "ManagedByOwner")
        root = ctx.root()
        project_el(root, ctx.store, p)
    return ctx.xml(root, 201)


@endpoint("tableau:projects:update")
async def update_project(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    pel = req.find("project")
    if pel is None:
        raise errors.bad_request("The project element is missing.")
    with ctx.store.lock:
        p = _site_item(ctx, ctx.store.projects, ctx.request.path_params["project_id"], errors.NOT_FOUND_PROJECT,
                       "Project")
        if pel.get("name"):
            p.name = pel.get("name")
        if pel.get("description") is not None:
            p.description = pel.get("description")
        if "parentProjectId" in pel.attrib:
            parent = pel.get("parentProjectId") or None
            if parent:
                _site_item(ctx, ctx.store.projects, parent, errors.NOT_FOUND_PROJECT, "Project")
            p.parent_id = parent
        p.updated_at = ctx.store.clock.now()
        root = ctx.root()
        project_el(root, ctx.store, p)
    return ctx.xml(root)


@endpoint("tableau:projects:delete")
async def delete_project(ctx: Ctx) -> Response:
    with ctx.store.lock:
        p = _site_item(ctx, ctx.store.projects, ctx.request.path_params["project_id"], errors.NOT_FOUND_PROJECT,
                       "Project")
        doomed = {p.id}
        changed = True
        while changed:
            before = len(doomed)
            doomed |= {c.id for c in ctx.store.projects.values() if c.parent_id in doomed}
            changed = len(doomed) != before
        for pid in doomed:
            ctx.store.projects.pop(pid, None)
        for ds in [d for d in ctx.store.datasources.values() if d.project_id in doomed]:
            ctx.store.datasources.pop(ds.id, None)
    return Response(status_code=204)


# --------------------------------------------------------------------------- datasources
def _ds_fields(ctx: Ctx) -> dict[str, Callable[[Datasource], Any]]:
    store = ctx.store
    return {
        "name": lambda d: d.name, "contentUrl": lambda d: d.content_url,
        "projectName": lambda d: store.projects[d.project_id].name if d.project_id in store.projects else "",
        "projectId": lambda d: d.project_id,
        "ownerName": lambda d: store.users[d.owner_id].name if d.owner_id in store.users else "",
        "createdAt": lambda d: iso(d.created_at), "updatedAt": lambda d: iso(d.updated_at),
        "type": lambda d: "hyper" if d.file_ext in ("hyper", "tdsx") else d.file_ext,
        "hasExtracts": lambda d: d.file_ext in ("hyper", "tdsx"), "isCertified": lambda d: False,
        "tags": lambda d: d.tags, "id": lambda d: d.id,
    }


@endpoint("tableau:content:read")
async def list_datasources(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    with ctx.store.lock:
        items = [d for d in ctx.store.datasources.values() if d.site_id == ctx.site.id]
        fields = _ds_fields(ctx)
        items = apply_filters(items, parse_filters(params.get("filter")), fields)
        items = apply_sort(items, params.get("sort"), fields)
        page, number, size, total = paginate(items, params)
        root = ctx.root()
        pagination(root, number, size, total)
        el = sub(root, "datasources")
        for d in page:
            datasource_el(el, ctx.store, d, ctx.base_url)
    return ctx.xml(root)


@endpoint("tableau:content:read")
async def get_datasource(ctx: Ctx) -> Response:
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                        errors.NOT_FOUND_DATASOURCE, "Datasource")
        root = ctx.root()
        datasource_el(root, ctx.store, ds, ctx.base_url)
    return ctx.xml(root)


@endpoint("tableau:content:read")
async def datasource_connections(ctx: Ctx) -> Response:
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                        errors.NOT_FOUND_DATASOURCE, "Datasource")
        root = ctx.root()
        conns = sub(root, "connections")
        c = sub(conns, "connection", {"id": ds.connection_id, "type": "hyper", "embedPassword": False,
                                      "serverAddress": "", "serverPort": "", "userName": "",
                                      "queryTaggingEnabled": False})
        sub(c, "datasource", {"id": ds.id, "name": ds.name})
    return ctx.xml(root)


@endpoint("tableau:datasources:download")
async def download_datasource(ctx: Ctx) -> Response:
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                        errors.NOT_FOUND_DATASOURCE, "Datasource")
        path, name = ds.file_path, f"{ds.name}.{ds.file_ext}"
    return FileResponse(path, media_type="application/octet-stream", filename=name)


@endpoint("tableau:datasources:delete")
async def delete_datasource(ctx: Ctx) -> Response:
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                        errors.NOT_FOUND_DATASOURCE, "Datasource")
        _check_permission(ctx, ds.project_id, "Delete")
        ctx.store.datasources.pop(ds.id)
        for task in [t for t in ctx.store.tasks.values() if t.datasource_id == ds.id]:
            ctx.store.tasks.pop(task.id)
    ctx.sb.notifier.fire(ds.site_id, "DatasourceDeleted", ds.id, ds.name)
    return Response(status_code=204)


@endpoint("tableau:datasources:update")
async def update_datasource(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    del_ = req.find("datasource")
    if del_ is None:
        raise errors.bad_request("The datasource element is missing.")
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                        errors.NOT_FOUND_DATASOURCE, "Datasource")
        _check_permission(ctx, ds.project_id, "Write")
        if del_.get("name"):
            ds.name = del_.get("name")
        if del_.get("description") is not None:
            ds.description = del_.get("description")
        proj = del_.find("project")
        if proj is not None and proj.get("id"):
            _site_item(ctx, ctx.store.projects, proj.get("id"), errors.NOT_FOUND_PROJECT, "Project")
            ds.project_id = proj.get("id")
        ds.updated_at = ctx.store.clock.now()
        root = ctx.root()
        datasource_el(root, ctx.store, ds, ctx.base_url)
    ctx.sb.notifier.fire(ds.site_id, "DatasourceUpdated", ds.id, ds.name)
    return ctx.xml(root)


@endpoint("tableau:datasources:create")
async def publish_datasource(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    body = await ctx.request.body()
    parts = parse_multipart(ctx.request.headers.get("content-type"), body)
    del body
    payload = parts.get("request_payload")
    if payload is None:
        raise errors.bad_request("The request_payload part is missing.", "400011")
    req = parse_request(payload.data)
    del_ = req.find("datasource")
    if del_ is None or not del_.get("name"):
        raise errors.bad_request("The datasource name is required.")
    proj = del_.find("project")
    project_id = proj.get("id") if proj is not None else None
    overwrite, append, as_job = _flag(params, "overwrite"), _flag(params, "append"), _flag(params, "asJob")
    if overwrite and append:
        raise errors.bad_request("overwrite and append cannot both be true.")
    ext = (params.get("datasourceType") or "").lower()
    upload_id = params.get("uploadSessionId")
    file_part = parts.get("tableau_datasource")
    if upload_id and file_part is not None:
        raise errors.bad_request("Send the file either in the request or through an upload session, not both.",
                                 "400011")
    if not ext and file_part is not None and file_part.filename:
        ext = file_part.filename.rsplit(".", 1)[-1].lower()
    if ext not in DATASOURCE_TYPES:
        raise errors.bad_request(f"datasourceType must be one of {', '.join(DATASOURCE_TYPES)}.")

    work = ctx.store.data_dir / "work" / f"{new_id()}.{ext}"
    if file_part is not None and not upload_id:
        limit = ctx.store.limits["single_request_max_bytes"]
        if limit is not None and len(file_part.data) > limit:
            raise ApiError(413, "413000", "Request Entity Too Large",
                           f"Files over {limit // MB} MB must be published with fileUploads (chunked).")
        await run_in_threadpool(work.write_bytes, file_part.data)  # big writes stay off the event loop
    handed_to_job: list[bool] = []
    try:
        return await _publish_checked(ctx, del_, project_id, upload_id, file_part, work, ext, overwrite, append,
                                      as_job, handed_to_job)
    finally:
        if not handed_to_job and work.exists():  # an asJob publish job owns (and removes) the file
            work.unlink()


async def _publish_checked(ctx: Ctx, del_: ET.Element, project_id: str | None, upload_id: str | None, file_part,
                           work: Path, ext: str, overwrite: bool, append: bool, as_job: bool,
                           handed_to_job: list[bool]) -> Response:
    with ctx.store.lock:
        if project_id is None:
            project_id = next(p.id for p in ctx.store.projects.values()
                              if p.site_id == ctx.site.id and p.name == "default")
        _site_item(ctx, ctx.store.projects, project_id, errors.NOT_FOUND_PROJECT, "Project")
        _check_permission(ctx, project_id, "Publish")
        if upload_id:
            upload = ctx.store.uploads.get(upload_id)
            if upload is None or upload.site_id != ctx.site.id:
                raise errors.not_found(errors.NOT_FOUND_UPLOAD, "Upload session", upload_id)
            ctx.store.uploads.pop(upload_id)
            shutil.move(upload.path, work)
        elif file_part is None:
            raise errors.bad_request("The tableau_datasource part (or an uploadSessionId) is required.", "400011")
        existing = next((d for d in ctx.store.datasources.values()
                         if d.site_id == ctx.site.id and d.project_id == project_id
                         and d.name.lower() == del_.get("name", "").lower()), None)
        if existing is not None and not (overwrite or append):
            raise errors.conflict(errors.CONFLICT_NAME,
                                  f"A data source named '{existing.name}' already exists in the project. "
                                  "Use overwrite=true to replace it.")
    spec = {"name": del_.get("name"), "description": del_.get("description", ""), "project_id": project_id,
            "ext": ext, "append": append, "work": work}
    if as_job:
        job = ctx.sb.runner.new_job(ctx.site.id, "PublishDatasource", "publishDatasourceJob")
        site_id, user_id = ctx.site.id, ctx.session.user_id
        handed_to_job.append(True)
        ctx.sb.runner.submit(job, lambda j: _store_published(ctx.sb, site_id, user_id, spec, j))
        root = ctx.root()
        job_el(root, ctx.store, job)
        return ctx.xml(root, 202)
    ds = await run_in_threadpool(_store_published, ctx.sb, ctx.site.id, ctx.session.user_id, spec, None)
    root = ctx.root()
    with ctx.store.lock:
        datasource_el(root, ctx.store, ds, ctx.base_url)
    return ctx.xml(root, 201)


def _store_published(sb: "Sandbox", site_id: str, user_id: str, spec: dict, job: Job | None) -> Datasource:
    """Validate the published file, then create / overwrite / append the datasource."""
    store, work, ext = sb.store, spec["work"], spec["ext"]
    try:
        if ext == "hyper":
            sb.hyper.tables(work)  # raises 400 when the bytes are not a Hyper database
        with store.lock:
            existing = next((d for d in store.datasources.values()
                             if d.site_id == site_id and d.project_id == spec["project_id"]
                             and d.name.lower() == spec["name"].lower()), None)
        now = store.clock.now()
        if existing is not None and spec["append"]:
            if existing.file_ext != "hyper" or ext != "hyper":
                raise errors.bad_request("Append is only supported for .hyper data sources.")
            sb.hyper.append(existing.file_path, work)
            with store.lock:
                existing.size = existing.file_path.stat().st_size
                existing.updated_at = now
            ds, event = existing, "DatasourceUpdated"
        elif existing is not None:
            dest = store.data_dir / "datasources" / f"{existing.id}.{ext}"
            with sb.hyper.file_lock(existing.file_path):
                if existing.file_path != dest:
                    existing.file_path.unlink(missing_ok=True)
                shutil.move(work, dest)
            with store.lock:
                existing.file_path, existing.file_ext = dest, ext
                existing.size = dest.stat().st_size
                existing.updated_at = now
                if spec["description"]:
                    existing.description = spec["description"]
            ds, event = existing, "DatasourceUpdated"
        else:
            ds_id = new_id()
            dest = store.data_dir / "datasources" / f"{ds_id}.{ext}"
            shutil.move(work, dest)
            with store.lock:
                taken = {d.content_url for d in store.datasources.values() if d.site_id == site_id}
                ds = Datasource(ds_id, site_id, spec["name"], spec["project_id"], user_id, dest, ext,
                                dest.stat().st_size, _content_url(spec["name"], taken), spec["description"], now,
                                now, new_id(), num=store.next_num())
                store.datasources[ds.id] = ds
            event = "DatasourceCreated"
        if ext == "tdsx":
            extract_hyper_from_tdsx(ds.file_path, ds.file_path.with_suffix(".data.hyper"))
        if job is not None:
            job.datasource_id = ds.id
        sb.notifier.fire(site_id, event, ds.id, ds.name)
        return ds
    finally:
        if work.exists():
            work.unlink()


# --------------------------------------------------------------------------- file uploads
@endpoint("tableau:file_uploads:create")
async def initiate_upload(ctx: Ctx) -> Response:
    up = UploadSession(f"{ctx.store.next_num()}:{new_id().replace('-', '')}-1:0", ctx.site.id,
                       ctx.session.user_id, ctx.store.data_dir / "uploads" / f"{new_id()}.part")
    up.path.write_bytes(b"")
    with ctx.store.lock:
        ctx.store.uploads[up.id] = up
    root = ctx.root()
    sub(root, "fileUpload", {"uploadSessionId": up.id, "fileSize": 0})
    return ctx.xml(root, 201)


@endpoint("tableau:file_uploads:create")
async def append_upload(ctx: Ctx) -> Response:
    upload_id = ctx.request.path_params["upload_id"]
    with ctx.store.lock:
        up = ctx.store.uploads.get(upload_id)
        if up is None or up.site_id != ctx.site.id:
            raise errors.not_found(errors.NOT_FOUND_UPLOAD, "Upload session", upload_id)
    parts = parse_multipart(ctx.request.headers.get("content-type"), await ctx.request.body())
    chunk = parts.get("tableau_file")
    if chunk is None:
        raise errors.bad_request("The tableau_file part is missing.", "400011")
    def append() -> int:
        with ctx.sb.hyper.file_lock(up.path):  # chunks of one session are appended in arrival order
            with open(up.path, "ab") as fh:
                fh.write(chunk.data)
            with ctx.store.lock:
                up.size += len(chunk.data)
                return up.size

    size_mb = -(-(await run_in_threadpool(append)) // MB)
    root = ctx.root()
    sub(root, "fileUpload", {"uploadSessionId": up.id, "fileSize": size_mb})
    return ctx.xml(root)


# --------------------------------------------------------------------------- update data in a hyper datasource
@endpoint("tableau:datasources:update")
async def update_hyper_data(ctx: Ctx) -> Response:
    ds_id = ctx.request.path_params["datasource_id"]
    request_id = ctx.request.headers.get("requestid")
    if not request_id:
        raise errors.bad_request("The RequestID header is required.")
    try:
        body = json.loads(await ctx.request.body() or b"null")
    except json.JSONDecodeError as exc:
        raise errors.bad_request(f"The request body is not valid JSON: {exc.msg}.") from None
    actions = body.get("actions") if isinstance(body, dict) else None
    if not isinstance(actions, list) or not actions:
        raise errors.bad_request("The body must be a JSON object with a non-empty 'actions' list.")
    upload_id = ctx.request.query_params.get("uploadSessionId")
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ds_id, errors.NOT_FOUND_DATASOURCE, "Datasource")
        conn_id = ctx.request.path_params.get("connection_id")
        if conn_id is not None and conn_id != ds.connection_id:
            raise errors.not_found(errors.NOT_FOUND_CONNECTION, "Connection", conn_id)
        _check_permission(ctx, ds.project_id, "Write")
        if ds.file_ext != "hyper":
            raise errors.bad_request("Only live-to-Hyper data sources (published .hyper files) can be updated.")
        previous = ctx.store.update_requests.get((ds.id, request_id))
        if previous is not None and previous in ctx.store.jobs:
            # Tableau runs a RequestID once: a repeated request returns the original job and changes nothing.
            ctx.store.count("update_data:duplicate_request")
            root = ctx.root()
            job_el(root, ctx.store, ctx.store.jobs[previous])
            return ctx.xml(root, 202)
        payload_path: Path | None = None
        if upload_id:
            up = ctx.store.uploads.get(upload_id)
            if up is None or up.site_id != ctx.site.id:
                raise errors.not_found(errors.NOT_FOUND_UPLOAD, "Upload session", upload_id)
        try:
            validate_actions(actions, bool(upload_id))
        except ActionError as exc:
            raise errors.bad_request(f"Invalid action batch: {exc}") from None
        if upload_id:
            ctx.store.uploads.pop(upload_id)
            payload_path = up.path.with_suffix(".hyper")
            shutil.move(up.path, payload_path)
        job = ctx.sb.runner.new_job(ctx.site.id, "UpdateUploadedFile", "updateUploadedFileJob",
                                    datasource_id=ds.id, connection_id=ds.connection_id)
        ctx.store.update_requests[(ds.id, request_id)] = job.id
    sb = ctx.sb

    def work(j: Job) -> None:
        try:
            results = sb.hyper.apply_actions(ds.file_path, payload_path, actions)
        finally:
            if payload_path is not None:
                payload_path.unlink(missing_ok=True)
        with sb.store.lock:
            ds.updated_at = sb.store.clock.now()
            ds.size = ds.file_path.stat().st_size
            j.notes.append("Applied " + json.dumps(results))

    def done(j: Job) -> None:
        if j.finish_code == 0:
            sb.notifier.fire(ds.site_id, "DatasourceUpdated", ds.id, ds.name)

    sb.runner.submit(job, work, done)
    root = ctx.root()
    job_el(root, ctx.store, job)
    return ctx.xml(root, 202)


# --------------------------------------------------------------------------- refresh (datasource / workbook)
def _start_refresh(sb: "Sandbox", site_id: str, ds: Datasource | None = None, wb: Workbook | None = None,
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
    ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                    errors.NOT_FOUND_DATASOURCE, "Datasource")
    _check_permission(ctx, ds.project_id, "Write")
    job = _start_refresh(ctx.sb, ctx.site.id, ds=ds)
    root = ctx.root()
    with ctx.store.lock:
        job_el(root, ctx.store, job)
    return ctx.xml(root, 202)


@endpoint("tableau:tasks:run")
async def refresh_workbook(ctx: Ctx) -> Response:
    wb = _site_item(ctx, ctx.store.workbooks, ctx.request.path_params["workbook_id"], errors.NOT_FOUND_WORKBOOK,
                    "Workbook")
    _check_permission(ctx, wb.project_id, "Write")
    job = _start_refresh(ctx.sb, ctx.site.id, wb=wb)
    root = ctx.root()
    with ctx.store.lock:
        job_el(root, ctx.store, job)
    return ctx.xml(root, 202)


# --------------------------------------------------------------------------- jobs
@endpoint("tableau:jobs:read")
async def get_job(ctx: Ctx) -> Response:
    with ctx.store.lock:
        job = _site_item(ctx, ctx.store.jobs, ctx.request.path_params["job_id"], errors.NOT_FOUND_JOB, "Job")
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
    job = _site_item(ctx, ctx.store.jobs, ctx.request.path_params["job_id"], errors.NOT_FOUND_JOB, "Job")
    if not ctx.sb.runner.cancel(job):
        raise errors.conflict("409000", "The job has already finished and cannot be cancelled.")
    root = ctx.root()
    with ctx.store.lock:
        job_el(root, ctx.store, job)
    return ctx.xml(root)


# --------------------------------------------------------------------------- workbooks
def _wb_fields(ctx: Ctx) -> dict[str, Callable[[Workbook], Any]]:
    store = ctx.store
    return {
        "name": lambda w: w.name, "contentUrl": lambda w: w.content_url,
        "projectName": lambda w: store.projects[w.project_id].name if w.project_id in store.projects else "",
        "ownerName": lambda w: store.users[w.owner_id].name if w.owner_id in store.users else "",
        "createdAt": lambda w: iso(w.created_at), "updatedAt": lambda w: iso(w.updated_at), "id": lambda w: w.id,
    }


@endpoint("tableau:content:read")
async def list_workbooks(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    with ctx.store.lock:
        items = [w for w in ctx.store.workbooks.values() if w.site_id == ctx.site.id]
        fields = _wb_fields(ctx)
        items = apply_filters(items, parse_filters(params.get("filter")), fields)
        items = apply_sort(items, params.get("sort"), fields)
        page, number, size, total = paginate(items, params)
        root = ctx.root()
        pagination(root, number, size, total)
        el = sub(root, "workbooks")
        for w in page:
            workbook_el(el, ctx.store, w, ctx.base_url)
    return ctx.xml(root)


@endpoint("tableau:content:read")
async def get_workbook(ctx: Ctx) -> Response:
    with ctx.store.lock:
        wb = _site_item(ctx, ctx.store.workbooks, ctx.request.path_params["workbook_id"], errors.NOT_FOUND_WORKBOOK,
                        "Workbook")
        root = ctx.root()
        workbook_el(root, ctx.store, wb, ctx.base_url)
    return ctx.xml(root)


@endpoint("tableau:content:read")
async def workbook_connections(ctx: Ctx) -> Response:
    with ctx.store.lock:
        wb = _site_item(ctx, ctx.store.workbooks, ctx.request.path_params["workbook_id"], errors.NOT_FOUND_WORKBOOK,
                        "Workbook")
        root = ctx.root()
        conns = sub(root, "connections")
        for ds_id in wb.datasource_ids:
            ds = ctx.store.datasources.get(ds_id)
            c = sub(conns, "connection", {"id": f"{wb.id[:8]}-{ds_id}", "type": "sqlproxy",
                                          "serverAddress": ctx.request.url.hostname, "serverPort": "",
                                          "userName": "", "embedPassword": False})
            sub(c, "datasource", {"id": ds_id, "name": ds.name if ds else None})
    return ctx.xml(root)


@endpoint("tableau:workbooks:delete")
async def delete_workbook(ctx: Ctx) -> Response:
    with ctx.store.lock:
        wb = _site_item(ctx, ctx.store.workbooks, ctx.request.path_params["workbook_id"], errors.NOT_FOUND_WORKBOOK,
                        "Workbook")
        _check_permission(ctx, wb.project_id, "Delete")
        ctx.store.workbooks.pop(wb.id)
    ctx.sb.notifier.fire(wb.site_id, "WorkbookDeleted", wb.id, wb.name)
    return Response(status_code=204)


_PUBLISHED_DS_REF = re.compile(rb"""dbname=['"]([^'"]+)['"]""")


def _workbook_xml(data: bytes, ext: str) -> bytes:
    """The .twb XML of a published workbook (a .twbx is a zip holding one .twb)."""
    if ext == "twb":
        return data
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            name = next((n for n in zf.namelist() if n.lower().endswith(".twb")), None)
            return zf.read(name) if name else b""
    except zipfile.BadZipFile:
        raise errors.bad_request("The uploaded .twbx file is not a valid zip archive.") from None


def create_workbook(sb: "Sandbox", site_id: str, user_id: str, name: str, project_id: str,
                    datasource_ids: list[str], file_path: Path | None = None) -> Workbook:
    store = sb.store
    with store.lock:
        existing = next((w for w in store.workbooks.values()
                         if w.site_id == site_id and w.project_id == project_id and w.name.lower() == name.lower()),
                        None)
        now = store.clock.now()
        if existing is not None:
            existing.datasource_ids, existing.updated_at = datasource_ids, now
            existing.file_path = file_path or existing.file_path
            wb, event = existing, "WorkbookUpdated"
        else:
            taken = {w.content_url for w in store.workbooks.values() if w.site_id == site_id}
            wb = Workbook(new_id(), site_id, name, project_id, user_id, datasource_ids, _content_url(name, taken),
                          now, now, file_path, store.next_num())
            store.workbooks[wb.id] = wb
            event = "WorkbookCreated"
    sb.notifier.fire(site_id, event, wb.id, wb.name)
    return wb


@endpoint("tableau:workbooks:create")
async def publish_workbook(ctx: Ctx) -> Response:
    """Minimal workbook publish: stores the file and links the published data sources it names."""
    params = ctx.request.query_params
    parts = parse_multipart(ctx.request.headers.get("content-type"), await ctx.request.body())
    payload = parts.get("request_payload")
    file_part = parts.get("tableau_workbook")
    if payload is None or file_part is None:
        raise errors.bad_request("request_payload and tableau_workbook parts are required.", "400011")
    req = parse_request(payload.data)
    wel = req.find("workbook")
    if wel is None or not wel.get("name"):
        raise errors.bad_request("The workbook name is required.")
    proj = wel.find("project")
    with ctx.store.lock:
        project_id = proj.get("id") if proj is not None and proj.get("id") else next(
            p.id for p in ctx.store.projects.values() if p.site_id == ctx.site.id and p.name == "default")
        _site_item(ctx, ctx.store.projects, project_id, errors.NOT_FOUND_PROJECT, "Project")
        _check_permission(ctx, project_id, "Publish")
        exists = any(w.site_id == ctx.site.id and w.project_id == project_id
                     and w.name.lower() == wel.get("name", "").lower() for w in ctx.store.workbooks.values())
        if exists and not _flag(params, "overwrite"):
            raise errors.conflict(errors.CONFLICT_NAME, f"A workbook named '{wel.get('name')}' already exists.")
        by_content_url = {d.content_url: d.id for d in ctx.store.datasources.values() if d.site_id == ctx.site.id}
    ext = (params.get("workbookType") or (file_part.filename or "wb.twbx").rsplit(".", 1)[-1]).lower()
    dest = ctx.store.data_dir / "workbooks" / f"{new_id()}.{ext}"
    dest.write_bytes(file_part.data)
    refs = [m.decode() for m in _PUBLISHED_DS_REF.findall(_workbook_xml(file_part.data, ext))]
    ds_ids = [by_content_url[r] for r in refs if r in by_content_url]
    wb = create_workbook(ctx.sb, ctx.site.id, ctx.session.user_id, wel.get("name"), project_id, ds_ids, dest)
    root = ctx.root()
    with ctx.store.lock:
        workbook_el(root, ctx.store, wb, ctx.base_url)
    return ctx.xml(root, 201)


# --------------------------------------------------------------------------- tasks
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
    with ctx.store.lock:
        t = _site_item(ctx, ctx.store.tasks, ctx.request.path_params["task_id"], errors.NOT_FOUND_TASK, "Task")
        root = ctx.root()
        task_el(root, ctx.store, t)
    return ctx.xml(root)


@endpoint("tableau:tasks:run")
async def run_task_now(ctx: Ctx) -> Response:
    with ctx.store.lock:
        t = _site_item(ctx, ctx.store.tasks, ctx.request.path_params["task_id"], errors.NOT_FOUND_TASK, "Task")
        ds = ctx.store.datasources.get(t.datasource_id) if t.datasource_id else None
        wb = ctx.store.workbooks.get(t.workbook_id) if t.workbook_id else None
    if ds is None and wb is None:
        raise errors.not_found(errors.NOT_FOUND_DATASOURCE, "Task target", t.datasource_id or t.workbook_id or "")
    job = _start_refresh(ctx.sb, ctx.site.id, ds=ds, wb=wb if ds is None else None, task_id=t.id)
    root = ctx.root()
    with ctx.store.lock:
        job_el(root, ctx.store, job)
    return ctx.xml(root)


@endpoint("tableau:tasks:delete")
async def delete_task(ctx: Ctx) -> Response:
    with ctx.store.lock:
        t = _site_item(ctx, ctx.store.tasks, ctx.request.path_params["task_id"], errors.NOT_FOUND_TASK, "Task")
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
            _site_item(ctx, ctx.store.datasources, ds_id, errors.NOT_FOUND_DATASOURCE, "Datasource")
        elif wb_id:
            _site_item(ctx, ctx.store.workbooks, wb_id, errors.NOT_FOUND_WORKBOOK, "Workbook")
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
def _server_only(ctx: Ctx) -> None:
    if ctx.store.flavor.is_cloud:
        raise errors.forbidden(errors.FORBIDDEN_CLOUD_ONLY,
                               "Server schedules are not available on Tableau Cloud. Extract refresh schedules "
                               "are part of each extract refresh task (GET /sites/{site-id}/tasks/extractRefreshes).")


@endpoint("tableau:schedules:read", site_scoped=False)
async def list_schedules(ctx: Ctx) -> Response:
    _server_only(ctx)
    params = ctx.request.query_params
    with ctx.store.lock:
        items = sorted(ctx.store.schedules.values(), key=lambda s: s.name)
        page, number, size, total = paginate(items, params)
        root = ctx.root()
        pagination(root, number, size, total)
        el = sub(root, "schedules")
        for s in page:
            schedule_el(el, s, with_details=False)
    return ctx.xml(root)


@endpoint("tableau:schedules:read", site_scoped=False)
async def get_schedule(ctx: Ctx) -> Response:
    _server_only(ctx)
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
    _server_only(ctx)
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
    _server_only(ctx)
    sid = ctx.request.path_params["schedule_id"]
    with ctx.store.lock:
        if ctx.store.schedules.pop(sid, None) is None:
            raise errors.not_found(errors.NOT_FOUND_SCHEDULE, "Schedule", sid)
        for t in [t for t in ctx.store.tasks.values() if t.schedule_id == sid]:
            ctx.store.tasks.pop(t.id)
    return Response(status_code=204)


@endpoint("tableau:tasks:create")
async def add_to_schedule(ctx: Ctx) -> Response:
    _server_only(ctx)
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
            _site_item(ctx, ctx.store.datasources, item_el.get("id", ""), errors.NOT_FOUND_DATASOURCE, "Datasource")
        else:
            _site_item(ctx, ctx.store.workbooks, item_el.get("id", ""), errors.NOT_FOUND_WORKBOOK, "Workbook")
    task = add_task(ctx.sb, ctx.site.id, item_el.get("id") if tag == "datasource" else None,
                    item_el.get("id") if tag == "workbook" else None, sid)
    root = ctx.root()
    with ctx.store.lock:
        task_el(root, ctx.store, task)
    return ctx.xml(root)


# --------------------------------------------------------------------------- webhooks
@endpoint("tableau:webhooks:read")
async def list_webhooks(ctx: Ctx) -> Response:
    with ctx.store.lock:
        root = ctx.root()
        el = sub(root, "webhooks")
        for w in ctx.store.webhooks.values():
            if w.site_id == ctx.site.id:
                webhook_el(el, ctx.store, w)
    return ctx.xml(root)


@endpoint("tableau:webhooks:read")
async def get_webhook(ctx: Ctx) -> Response:
    with ctx.store.lock:
        w = _site_item(ctx, ctx.store.webhooks, ctx.request.path_params["webhook_id"], errors.NOT_FOUND_WEBHOOK,
                       "Webhook")
        root = ctx.root()
        webhook_el(root, ctx.store, w)
    return ctx.xml(root)


@endpoint("tableau:webhooks:create")
async def create_webhook(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    wel = req.find("webhook")
    if wel is None or not wel.get("name"):
        raise errors.bad_request("The webhook name is required.")
    event = None
    if wel.get("event"):
        event = event_from_xml_name(wel.get("event"))
    source = wel.find("webhook-source")
    if event is None and source is not None and len(source):
        event = event_from_xml_name(source[0].tag)
    if event is None:
        raise errors.bad_request("The webhook event is missing or not a supported event name.", "400000")
    dest = wel.find("webhook-destination/webhook-destination-http")
    url = dest.get("url") if dest is not None else None
    if not url:
        raise errors.bad_request("The webhook destination URL is required.")
    if dest.get("method", "POST").upper() != "POST":
        raise errors.bad_request("The webhook destination method must be POST.")
    if not destination_allowed(url):
        raise errors.bad_request("The webhook destination URL must use https (plain http is accepted only for "
                                 "loopback addresses in this sandbox).", "400000")
    with ctx.store.lock:
        if any(w.site_id == ctx.site.id and w.name == wel.get("name") for w in ctx.store.webhooks.values()):
            raise errors.conflict("409032", f"A webhook named '{wel.get('name')}' already exists.")
        w = Webhook(new_id(), ctx.site.id, wel.get("name"), event, url, ctx.session.user_id, ctx.store.clock.now(),
                    wel.get("isEnabled", "true") != "false")
        ctx.store.webhooks[w.id] = w
        root = ctx.root()
        webhook_el(root, ctx.store, w)
    return ctx.xml(root, 201)


@endpoint("tableau:webhooks:delete")
async def delete_webhook(ctx: Ctx) -> Response:
    with ctx.store.lock:
        w = _site_item(ctx, ctx.store.webhooks, ctx.request.path_params["webhook_id"], errors.NOT_FOUND_WEBHOOK,
                       "Webhook")
        ctx.store.webhooks.pop(w.id)
    return Response(status_code=204)


@endpoint("tableau:webhooks:read")
async def test_webhook(ctx: Ctx) -> Response:
    with ctx.store.lock:
        w = _site_item(ctx, ctx.store.webhooks, ctx.request.path_params["webhook_id"], errors.NOT_FOUND_WEBHOOK,
                       "Webhook")
    body = ctx.sb.notifier.payload(w.site_id, w.event, "test-resource-luid", "Webhook test")
    delivery = await run_in_threadpool(ctx.sb.notifier.deliver, w, body, True)
    root = ctx.root()
    result = sub(root, "webhookTestResult", {"id": w.id, "status": delivery.status_code or 0})
    sub(result, "body", text=delivery.error or "")
    return ctx.xml(root)


# --------------------------------------------------------------------------- users and tags
def _user_el(parent: ET.Element, user) -> ET.Element:
    return sub(parent, "user", {"id": user.id, "name": user.name, "siteRole": user.site_role,
                                "authSetting": "ServerDefault", "email": user.name, "fullName": user.name})


@endpoint("tableau:users:read")
async def list_users(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    with ctx.store.lock:
        items = [u for u in ctx.store.users.values() if u.site_id == ctx.site.id]
        fields = {"name": lambda u: u.name, "siteRole": lambda u: u.site_role, "id": lambda u: u.id}
        items = apply_filters(items, parse_filters(params.get("filter")), fields)
        page, number, size, total = paginate(items, params)
        root = ctx.root()
        pagination(root, number, size, total)
        el = sub(root, "users")
        for u in page:
            _user_el(el, u)
    return ctx.xml(root)


@endpoint("tableau:users:read")
async def get_user(ctx: Ctx) -> Response:
    with ctx.store.lock:
        u = _site_item(ctx, ctx.store.users, ctx.request.path_params["user_id"], errors.NOT_FOUND_USER, "User")
        root = ctx.root()
        _user_el(root, u)
    return ctx.xml(root)


@endpoint("tableau:datasources:update")
async def add_datasource_tags(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    labels = [t.get("label", "") for t in req.iter("tag") if t.get("label")]
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                        errors.NOT_FOUND_DATASOURCE, "Datasource")
        _check_permission(ctx, ds.project_id, "Write")
        for label in labels:
            if label not in ds.tags:
                ds.tags.append(label)
        root = ctx.root()
        tags = sub(root, "tags")
        for label in ds.tags:
            sub(tags, "tag", {"label": label})
    return ctx.xml(root)


@endpoint("tableau:datasources:update")
async def delete_datasource_tag(ctx: Ctx) -> Response:
    label = ctx.request.path_params["tag"]
    with ctx.store.lock:
        ds = _site_item(ctx, ctx.store.datasources, ctx.request.path_params["datasource_id"],
                        errors.NOT_FOUND_DATASOURCE, "Datasource")
        _check_permission(ctx, ds.project_id, "Write")
        if label not in ds.tags:
            raise errors.not_found("404008", "Tag", label)
        ds.tags.remove(label)
    return Response(status_code=204)


# --------------------------------------------------------------------------- routes
def routes() -> list[Route]:
    v = "/api/{version}"
    s = v + "/sites/{site_id}"
    return [
        Route(v + "/serverinfo", server_info, methods=["GET"]),
        Route(v + "/serverInfo", server_info, methods=["GET"]),
        Route(v + "/auth/signin", sign_in, methods=["POST"]),
        Route(v + "/auth/signout", sign_out, methods=["POST"]),
        Route(v + "/sites", list_sites, methods=["GET"]),
        Route(s, get_site, methods=["GET"]),
        Route(s + "/users", list_users, methods=["GET"]),
        Route(s + "/users/{user_id}", get_user, methods=["GET"]),
        Route(s + "/projects", list_projects, methods=["GET"]),
        Route(s + "/projects", create_project, methods=["POST"]),
        Route(s + "/projects/{project_id}", update_project, methods=["PUT"]),
        Route(s + "/projects/{project_id}", delete_project, methods=["DELETE"]),
        Route(s + "/datasources", list_datasources, methods=["GET"]),
        Route(s + "/datasources", publish_datasource, methods=["POST"]),
        Route(s + "/datasources/{datasource_id}", get_datasource, methods=["GET"]),
        Route(s + "/datasources/{datasource_id}", update_datasource, methods=["PUT"]),
        Route(s + "/datasources/{datasource_id}", delete_datasource, methods=["DELETE"]),
        Route(s + "/datasources/{datasource_id}/connections", datasource_connections, methods=["GET"]),
        Route(s + "/datasources/{datasource_id}/tags", add_datasource_tags, methods=["PUT"]),
        Route(s + "/datasources/{datasource_id}/tags/{tag}", delete_datasource_tag, methods=["DELETE"]),
        Route(s + "/datasources/{datasource_id}/content", download_datasource, methods=["GET"]),
        Route(s + "/datasources/{datasource_id}/refresh", refresh_datasource, methods=["POST"]),
        Route(s + "/datasources/{datasource_id}/data", update_hyper_data, methods=["PATCH"]),
        Route(s + "/datasources/{datasource_id}/connections/{connection_id}/data", update_hyper_data,
              methods=["PATCH"]),
        Route(s + "/fileUploads", initiate_upload, methods=["POST"]),
        Route(s + "/fileUploads/{upload_id}", append_upload, methods=["PUT"]),
        Route(s + "/jobs", list_jobs, methods=["GET"]),
        Route(s + "/jobs/{job_id}", get_job, methods=["GET"]),
        Route(s + "/jobs/{job_id}", cancel_job, methods=["PUT"]),
        Route(s + "/workbooks", list_workbooks, methods=["GET"]),
        Route(s + "/workbooks", publish_workbook, methods=["POST"]),
        Route(s + "/workbooks/{workbook_id}", get_workbook, methods=["GET"]),
        Route(s + "/workbooks/{workbook_id}", delete_workbook, methods=["DELETE"]),
        Route(s + "/workbooks/{workbook_id}/connections", workbook_connections, methods=["GET"]),
        Route(s + "/workbooks/{workbook_id}/refresh", refresh_workbook, methods=["POST"]),
        Route(s + "/tasks/extractRefreshes", list_tasks, methods=["GET"]),
        Route(s + "/tasks/extractRefreshes", create_task, methods=["POST"]),
        Route(s + "/tasks/extractRefreshes/{task_id}", get_task, methods=["GET"]),
        Route(s + "/tasks/extractRefreshes/{task_id}", delete_task, methods=["DELETE"]),
        Route(s + "/tasks/extractRefreshes/{task_id}/runNow", run_task_now, methods=["POST"]),
        Route(v + "/schedules", list_schedules, methods=["GET"]),
        Route(v + "/schedules", create_schedule, methods=["POST"]),
        Route(v + "/schedules/{schedule_id}", get_schedule, methods=["GET"]),
        Route(v + "/schedules/{schedule_id}", delete_schedule, methods=["DELETE"]),
        Route(s + "/schedules/{schedule_id}/{kind:str}", add_to_schedule, methods=["PUT"]),
        Route(s + "/webhooks", list_webhooks, methods=["GET"]),
        Route(s + "/webhooks", create_webhook, methods=["POST"]),
        Route(s + "/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
        Route(s + "/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
        Route(s + "/webhooks/{webhook_id}/test", test_webhook, methods=["GET"]),
    ]
