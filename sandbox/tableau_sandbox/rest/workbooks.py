"""Workbooks connected to published datasources: minimal publish, list, get, connections, delete."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.elements import workbook_el
from tableau_sandbox.multipart import parse_multipart
from tableau_sandbox.state import Workbook, new_id
from tableau_sandbox.xmlresp import parse_request, sub
from tableau_sandbox.rest.base import (Ctx, check_permission, content_fields, content_url, endpoint, flag, paged_list,
                                       path_item, site_item)

if TYPE_CHECKING:
    from tableau_sandbox.app import Sandbox


@endpoint("tableau:content:read")
async def list_workbooks(ctx: Ctx) -> Response:
    with ctx.store.lock:
        fields = content_fields(ctx)
        root = paged_list(ctx, [w for w in ctx.store.workbooks.values() if w.site_id == ctx.site.id],
                          "workbooks", lambda el, w: workbook_el(el, ctx.store, w, ctx.base_url), fields, fields)
    return ctx.xml(root)


@endpoint("tableau:content:read")
async def get_workbook(ctx: Ctx) -> Response:
    return ctx.answer(workbook_el, ctx.store, path_item(ctx, "workbook"), ctx.base_url)


@endpoint("tableau:content:read")
async def workbook_connections(ctx: Ctx) -> Response:
    with ctx.store.lock:
        wb = path_item(ctx, "workbook")
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
        wb = path_item(ctx, "workbook")
        check_permission(ctx, wb.project_id, "Delete")
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
            wb = Workbook(new_id(), site_id, name, project_id, user_id, datasource_ids, content_url(name, taken),
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
        site_item(ctx, ctx.store.projects, project_id, errors.NOT_FOUND_PROJECT, "Project")
        check_permission(ctx, project_id, "Publish")
        exists = any(w.site_id == ctx.site.id and w.project_id == project_id
                     and w.name.lower() == wel.get("name", "").lower() for w in ctx.store.workbooks.values())
        if exists and not flag(params, "overwrite"):
            raise errors.conflict(errors.CONFLICT_NAME, f"A workbook named '{wel.get('name')}' already exists.")
        by_content_url = {d.content_url: d.id for d in ctx.store.datasources.values() if d.site_id == ctx.site.id}
    ext = (params.get("workbookType") or (file_part.filename or "wb.twbx").rsplit(".", 1)[-1]).lower()
    dest = ctx.store.data_dir / "workbooks" / f"{new_id()}.{ext}"
    dest.write_bytes(file_part.data)
    refs = [m.decode() for m in _PUBLISHED_DS_REF.findall(_workbook_xml(file_part.data, ext))]
    ds_ids = [by_content_url[r] for r in refs if r in by_content_url]
    wb = create_workbook(ctx.sb, ctx.site.id, ctx.session.user_id, wel.get("name"), project_id, ds_ids, dest)
    return ctx.answer(workbook_el, ctx.store, wb, ctx.base_url, status=201)
