"""Projects (nested through parentProjectId)."""

from __future__ import annotations

from typing import Any, Callable

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.clock import iso
from tableau_sandbox.elements import project_el
from tableau_sandbox.state import Project
from tableau_sandbox.xmlresp import parse_request
from tableau_sandbox.rest.base import Ctx, check_permission, endpoint, paged_list, path_item, site_item


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
    with ctx.store.lock:
        fields = _project_fields(ctx)
        root = paged_list(ctx, [p for p in ctx.store.projects.values() if p.site_id == ctx.site.id],
                          "projects", lambda el, p: project_el(el, ctx.store, p), fields, fields)
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
            site_item(ctx, ctx.store.projects, parent, errors.NOT_FOUND_PROJECT, "Project")
            check_permission(ctx, parent, "ProjectLeader")
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
        p = path_item(ctx, "project")
        if pel.get("name"):
            p.name = pel.get("name")
        if pel.get("description") is not None:
            p.description = pel.get("description")
        if "parentProjectId" in pel.attrib:
            parent = pel.get("parentProjectId") or None
            if parent:
                site_item(ctx, ctx.store.projects, parent, errors.NOT_FOUND_PROJECT, "Project")
            p.parent_id = parent
        p.updated_at = ctx.store.clock.now()
        root = ctx.root()
        project_el(root, ctx.store, p)
    return ctx.xml(root)


@endpoint("tableau:projects:delete")
async def delete_project(ctx: Ctx) -> Response:
    with ctx.store.lock:
        p = path_item(ctx, "project")
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
