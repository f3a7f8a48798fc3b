"""Datasources: list, get, update, delete, connections, download, publish (CreateNew / Overwrite / Append)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from tableau_sandbox import errors
from tableau_sandbox.elements import datasource_el, job_el
from tableau_sandbox.errors import ApiError
from tableau_sandbox.hyperfiles import extract_hyper_from_tdsx
from tableau_sandbox.multipart import parse_multipart
from tableau_sandbox.state import Datasource, Job, new_id
from tableau_sandbox.xmlresp import parse_request, sub
from tableau_sandbox.rest.base import (Ctx, DATASOURCE_TYPES, MB, check_permission, content_fields,
                                       content_url, endpoint, flag, paged_list, path_item, site_item)

if TYPE_CHECKING:
    from tableau_sandbox.app import Sandbox


def _ds_fields(ctx: Ctx) -> dict[str, Callable[[Datasource], Any]]:
    return {
        **content_fields(ctx), "projectId": lambda d: d.project_id,
        "type": lambda d: "hyper" if d.file_ext in ("hyper", "tdsx") else d.file_ext,
        "hasExtracts": lambda d: d.file_ext in ("hyper", "tdsx"), "isCertified": lambda d: False,
        "tags": lambda d: d.tags,
    }


@endpoint("tableau:content:read")
async def list_datasources(ctx: Ctx) -> Response:
    with ctx.store.lock:
        fields = _ds_fields(ctx)
        root = paged_list(ctx, [d for d in ctx.store.datasources.values() if d.site_id == ctx.site.id],
                          "datasources", lambda el, d: datasource_el(el, ctx.store, d, ctx.base_url), fields, fields)
    return ctx.xml(root)


@endpoint("tableau:content:read")
async def get_datasource(ctx: Ctx) -> Response:
    return ctx.answer(datasource_el, ctx.store, path_item(ctx, "datasource"), ctx.base_url)


@endpoint("tableau:content:read")
async def datasource_connections(ctx: Ctx) -> Response:
    with ctx.store.lock:
        ds = path_item(ctx, "datasource")
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
        ds = path_item(ctx, "datasource")
        path, name = ds.file_path, f"{ds.name}.{ds.file_ext}"
    return FileResponse(path, media_type="application/octet-stream", filename=name)


@endpoint("tableau:datasources:delete")
async def delete_datasource(ctx: Ctx) -> Response:
    with ctx.store.lock:
        ds = path_item(ctx, "datasource")
        check_permission(ctx, ds.project_id, "Delete")
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
        ds = path_item(ctx, "datasource")
        check_permission(ctx, ds.project_id, "Write")
        if del_.get("name"):
            ds.name = del_.get("name")
        if del_.get("description") is not None:
            ds.description = del_.get("description")
        proj = del_.find("project")
        if proj is not None and proj.get("id"):
            site_item(ctx, ctx.store.projects, proj.get("id"), errors.NOT_FOUND_PROJECT, "Project")
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
    overwrite, append, as_job = flag(params, "overwrite"), flag(params, "append"), flag(params, "asJob")
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
        site_item(ctx, ctx.store.projects, project_id, errors.NOT_FOUND_PROJECT, "Project")
        check_permission(ctx, project_id, "Publish")
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
    return ctx.answer(datasource_el, ctx.store, ds, ctx.base_url, status=201)


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
                                dest.stat().st_size, content_url(spec["name"], taken), spec["description"], now,
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
