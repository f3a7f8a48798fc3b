"""Webhooks: create, list, get, delete, test."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.elements import webhook_el
from tableau_sandbox.state import Webhook, new_id
from tableau_sandbox.webhooks import destination_allowed, event_from_xml_name
from tableau_sandbox.xmlresp import parse_request, sub
from tableau_sandbox.rest.base import Ctx, endpoint, path_item, require_site_admin


@endpoint("tableau:webhooks:read")
async def list_webhooks(ctx: Ctx) -> Response:
    require_site_admin(ctx, "webhooks")
    with ctx.store.lock:
        root = ctx.root()
        el = sub(root, "webhooks")
        for w in ctx.store.webhooks.values():
            if w.site_id == ctx.site.id:
                webhook_el(el, ctx.store, w)
    return ctx.xml(root)


@endpoint("tableau:webhooks:read")
async def get_webhook(ctx: Ctx) -> Response:
    require_site_admin(ctx, "webhooks")
    return ctx.answer(webhook_el, ctx.store, path_item(ctx, "webhook"))


@endpoint("tableau:webhooks:create")
async def create_webhook(ctx: Ctx) -> Response:
    require_site_admin(ctx, "webhooks")
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
    require_site_admin(ctx, "webhooks")
    with ctx.store.lock:
        w = path_item(ctx, "webhook")
        ctx.store.webhooks.pop(w.id)
    return Response(status_code=204)


@endpoint("tableau:webhooks:read")
async def test_webhook(ctx: Ctx) -> Response:
    require_site_admin(ctx, "webhooks")
    with ctx.store.lock:
        w = path_item(ctx, "webhook")
    body = ctx.sb.notifier.payload(w.site_id, w.event, "test-resource-luid", "Webhook test")
    delivery = await run_in_threadpool(ctx.sb.notifier.deliver, w, body, True)
    root = ctx.root()
    result = sub(root, "webhookTestResult", {"id": w.id, "status": delivery.status_code or 0})
    sub(result, "body", text=delivery.error or "")
    return ctx.xml(root)
