"""Starlette app: `POST /webhooks/qbo` (QBO's notifications) and `GET /healthz`.

Order of checks on a delivery, each failure answered at once and logged (never with the body
or the token), and nothing queued:
1. size — `Content-Length` above `webhook_max_body_bytes`, or a body that grows past it → 413;
2. signature — `intuit-signature` missing → 401, not the HMAC of the raw bytes → 401
   (checked before a single byte is parsed);
3. shape — not a legacy `eventNotifications` body or CloudEvents → 400.
A valid delivery is committed to the queue and answered 200 right away (the run happens later in
the trigger's thread; QBO retries deliveries that are slow or not 2xx). A delivery whose events
are all known (QBO's retry, or a replay) is answered 200 — so QBO stops retrying — but queues
nothing and triggers nothing. A queue that cannot be written → 503 so QBO delivers again later.
"""

from __future__ import annotations

import contextlib
import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tap_quickbooks_online.webhooks.event_queue import EventQueue
from tap_quickbooks_online.webhooks.events import PayloadError, parse_notification
from tap_quickbooks_online.webhooks.settings import WebhookSettings
from tap_quickbooks_online.webhooks.signature import SIGNATURE_HEADER, verify
from tap_quickbooks_online.webhooks.trigger import RunTrigger

log = logging.getLogger("tap_quickbooks_online.webhooks")
WEBHOOK_PATH = "/webhooks/qbo"


class BodyTooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge  # refused unread
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: WebhookSettings, queue: EventQueue, trigger: RunTrigger | None = None) -> Starlette:
    """`trigger` (optional) is started and stopped with the app and told about new events."""

    def refuse(status: int, reason: str, request: Request, size: int | None = None) -> JSONResponse:
        client = request.client.host if request.client else "?"
        log.warning("webhooks: rejected delivery from %s: %s (%s bytes) → %d", client, reason,
                    "?" if size is None else size, status)
        return JSONResponse({"outcome": "rejected", "reason": reason}, status_code=status)

    async def receive(request: Request) -> JSONResponse:
        try:
            body = await _read_capped(request, settings.max_body_bytes)
        except BodyTooLarge:
            return refuse(413, "body too large", request)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return refuse(401, "missing intuit-signature", request, len(body))
        if not verify(body, signature, settings.verifier_token):
            return refuse(401, "invalid intuit-signature", request, len(body))
        try:
            events = parse_notification(body)
        except PayloadError as exc:
            return refuse(400, f"malformed notification: {exc}", request, len(body))
        ours = [e for e in events if not settings.realm_ids or e.realm_id in settings.realm_ids]
        if len(ours) < len(events):
            log.warning("webhooks: ignored %d event(s) of realms not configured", len(events) - len(ours))
        try:
            result = await run_in_threadpool(queue.enqueue, ours)
        except Exception as exc:  # the store is down: QBO must deliver again
            log.error("webhooks: could not queue %d event(s): %s", len(ours), type(exc).__name__)
            return JSONResponse({"outcome": "retry", "reason": "queue unavailable"}, status_code=503)
        if result.queued and trigger is not None:
            trigger.notify()
        log.info("webhooks: delivery accepted: %d event(s), %d queued, %d duplicate(s)",
                 len(events), result.queued, result.duplicates)
        return JSONResponse({"outcome": "accepted", "events": len(events), "queued": result.queued,
                             "duplicates": result.duplicates, "ignored": len(events) - len(ours)})

    async def healthz(request: Request) -> JSONResponse:
        waiting = await run_in_threadpool(queue.waiting_count)
        return JSONResponse({"ok": True, "waiting": waiting,
                             "running": bool(trigger and trigger.running)})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if trigger is not None:
            trigger.start()
        try:
            yield
        finally:
            if trigger is not None:
                await run_in_threadpool(trigger.stop)

    return Starlette(routes=[Route(WEBHOOK_PATH, receive, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)
