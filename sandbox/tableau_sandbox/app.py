"""Assembles one sandbox: state, Hyper service, job runner, webhook notifier, faults, and the ASGI app."""

from __future__ import annotations

import contextlib
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tableau_sandbox import control, rest
from tableau_sandbox.faults import ConcurrencyLimiter, HttpFaults
from tableau_sandbox.flavors import get_flavor
from tableau_sandbox.hyperfiles import HyperService
from tableau_sandbox.jobs import JobRunner
from tableau_sandbox.state import Store
from tableau_sandbox.webhooks import Notifier
from tableau_sandbox.xmlresp import error_response


class Sandbox:
    def __init__(self, flavor: str = "server", data_dir: Path | None = None) -> None:
        self.store = Store(get_flavor(flavor), data_dir)
        self.hyper = HyperService(self.store.data_dir / "hyper-logs")
        self.runner = JobRunner(self.store)
        self.notifier = Notifier(self.store)
        self.faults = HttpFaults()
        self.concurrency = ConcurrencyLimiter(self.store)

    def close(self) -> None:
        self.runner.close()
        self.notifier.close()
        self.hyper.close()
        self.store.close()


async def _not_found(request: Request, exc) -> Response:
    if request.url.path.startswith("/api/"):
        return error_response(404, "404000", "Resource Not Found",
                              f"No REST method matches {request.method} {request.url.path}.")
    return Response("Not Found", status_code=404)


async def _method_not_allowed(request: Request, exc) -> Response:
    return error_response(405, "405000", "Method Not Allowed",
                          f"{request.method} is not allowed on {request.url.path}.")


def create_app(flavor: str = "server", data_dir: Path | None = None) -> Starlette:
    sandbox = Sandbox(flavor, data_dir)
    routes: list[Route] = rest.routes() + control.routes()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            sandbox.close()

    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _method_not_allowed},
                    lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
