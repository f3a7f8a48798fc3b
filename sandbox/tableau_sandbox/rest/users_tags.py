"""Users (list, get) and datasource tags."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.xmlresp import parse_request, sub
from tableau_sandbox.rest.base import Ctx, check_permission, endpoint, paged_list, path_item


def _user_el(parent: ET.Element, user) -> ET.Element:
    return sub(parent, "user", {"id": user.id, "name": user.name, "siteRole": user.site_role,
                                "authSetting": "ServerDefault", "email": user.name, "fullName": user.name})


@endpoint("tableau:users:read")
async def list_users(ctx: Ctx) -> Response:
    with ctx.store.lock:
        root = paged_list(ctx, [u for u in ctx.store.users.values() if u.site_id == ctx.site.id], "users", _user_el,
                          filter_fields={"name": lambda u: u.name, "siteRole": lambda u: u.site_role,
                                         "id": lambda u: u.id})
    return ctx.xml(root)


@endpoint("tableau:users:read")
async def get_user(ctx: Ctx) -> Response:
    return ctx.answer(_user_el, path_item(ctx, "user"))


@endpoint("tableau:datasources:update")
async def add_datasource_tags(ctx: Ctx) -> Response:
    req = parse_request(await ctx.request.body())
    labels = [t.get("label", "") for t in req.iter("tag") if t.get("label")]
    with ctx.store.lock:
        ds = path_item(ctx, "datasource")
        check_permission(ctx, ds.project_id, "Write")
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
        ds = path_item(ctx, "datasource")
        check_permission(ctx, ds.project_id, "Write")
        if label not in ds.tags:
            raise errors.not_found("404008", "Tag", label)
        ds.tags.remove(label)
    return Response(status_code=204)
