"""Starlette app for the webhook receiver: `POST /hooks/{secret}` and `GET /healthz`.

The secret is part of the path, so uvicorn's access log (which prints paths) must stay off; the
receiver logs each delivery itself without the path.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from target_tableau_hyper.publishing.webhooks.receiver import WebhookReceiver

MAX_BODY_BYTES = 64 * 1024  # Tableau events are a few hundred bytes


def create_app(receiver: WebhookReceiver) -> Starlette:
    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"outcome": "rejected", "reason": "body too large"}, status_code=413)
        client = request.client.host if request.client else None
        verdict = await run_in_threadpool(receiver.handle, request.path_params["secret"], body, client)
        return JSONResponse(verdict.body(), status_code=verdict.status)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/hooks/{secret}", hook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])
