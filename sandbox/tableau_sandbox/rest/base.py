"""Shared plumbing of the REST routes: request context, the endpoint wrapper, lookups and checks."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from tableau_sandbox import auth, errors
from tableau_sandbox.clock import iso
from tableau_sandbox.errors import ApiError
from tableau_sandbox.jsonwire import wants_json, xml_bytes_to_json_response
from tableau_sandbox.query import apply_filters, apply_sort, paginate, parse_filters
from tableau_sandbox.state import Session, Site
from tableau_sandbox.xmlresp import error_response, pagination, sub, ts_response, xml_response

if TYPE_CHECKING:
    from tableau_sandbox.app import Sandbox


logger = logging.getLogger("tableau_sandbox")
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

    def answer(self, render: Callable[..., object], *args, status: int = 200) -> Response:
        """A `<tsResponse>` holding what `render(root, *args)` adds (read under the store lock)."""
        root = self.root()
        with self.store.lock:
            render(root, *args)
        return self.xml(root, status)


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
            except Exception as exc:  # a sandbox bug still answers in Tableau's error envelope
                logger.exception("unhandled error in %s", route_name)
                response = error_response(500, "500000", "Internal Server Error",
                                          f"Unexpected sandbox error ({type(exc).__name__}).")
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


def site_item(ctx: Ctx, mapping: dict, item_id: str, code: str, what: str):
    with ctx.store.lock:
        item = mapping.get(item_id)
        if item is None or getattr(item, "site_id", ctx.site.id) != ctx.site.id:
            raise errors.not_found(code, what, item_id)
        return item


# path parameter `<kind>_id` → (the store's mapping, Tableau's not-found code, the name in its message)
_PATH_KINDS = {
    "datasource": ("datasources", errors.NOT_FOUND_DATASOURCE, "Datasource"),
    "workbook": ("workbooks", errors.NOT_FOUND_WORKBOOK, "Workbook"),
    "project": ("projects", errors.NOT_FOUND_PROJECT, "Project"),
    "job": ("jobs", errors.NOT_FOUND_JOB, "Job"),
    "task": ("tasks", errors.NOT_FOUND_TASK, "Task"),
    "user": ("users", errors.NOT_FOUND_USER, "User"),
    "webhook": ("webhooks", errors.NOT_FOUND_WEBHOOK, "Webhook"),
}


def path_item(ctx: Ctx, kind: str):
    """The site's item the path names (`{datasource_id}`, …); Tableau's 404 when absent or on another site."""
    mapping, code, what = _PATH_KINDS[kind]
    return site_item(ctx, getattr(ctx.store, mapping), ctx.request.path_params[f"{kind}_id"], code, what)


def content_fields(ctx: Ctx) -> dict[str, Callable]:
    """The `filter` / `sort` fields every published content item (datasource, workbook) has."""
    store = ctx.store
    return {
        "name": lambda c: c.name, "contentUrl": lambda c: c.content_url,
        "projectName": lambda c: store.projects[c.project_id].name if c.project_id in store.projects else "",
        "ownerName": lambda c: store.users[c.owner_id].name if c.owner_id in store.users else "",
        "createdAt": lambda c: iso(c.created_at), "updatedAt": lambda c: iso(c.updated_at), "id": lambda c: c.id,
    }


def paged_list(ctx: Ctx, items: list, plural: str, render: Callable, filter_fields: dict | None = None,
               sort_fields: dict | None = None) -> ET.Element:
    """A list answer: Tableau's `filter` / `sort` (where the resource supports them), one page of
    `<plural>` holding `render(parent, item)` elements, and its `<pagination>`. Call it under the store lock."""
    params = ctx.request.query_params
    if filter_fields is not None:
        items = apply_filters(items, parse_filters(params.get("filter")), filter_fields)
    if sort_fields is not None:
        items = apply_sort(items, params.get("sort"), sort_fields)
    page, number, size, total = paginate(items, params)
    root = ctx.root()
    pagination(root, number, size, total)
    el = sub(root, plural)
    for item in page:
        render(el, item)
    return root


def flag(params, name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def content_url(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "", name) or "datasource"
    candidate, n = base, 0
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def check_permission(ctx: Ctx, project_id: str, capability: str) -> None:
    assert ctx.session is not None
    if (ctx.session.user_id, project_id, capability) in ctx.store.denied:
        raise errors.forbidden(errors.FORBIDDEN_PUBLISH,
                               f"The user does not have the '{capability}' permission on project '{project_id}'.")


def require_site_admin(ctx: Ctx, what: str) -> None:
    """Webhooks (and other site settings) are for site or server administrators only."""
    assert ctx.session is not None
    user = ctx.store.users.get(ctx.session.user_id)
    if user is None or not user.site_role.startswith(("SiteAdministrator", "ServerAdministrator")):
        raise errors.forbidden("403000", f"Only site or server administrators can manage {what}.")
