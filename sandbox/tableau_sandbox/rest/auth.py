"""Server info, sign-in / sign-out, sites."""

from __future__ import annotations

from starlette.responses import Response

from tableau_sandbox import auth, errors
from tableau_sandbox.xmlresp import pagination, parse_request, sub
from tableau_sandbox.rest.base import Ctx, endpoint


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
