"""Fault injection for REST calls (5xx, latency, held requests) and Tableau Cloud's concurrency limit."""

from __future__ import annotations

import asyncio
import re
import threading

from starlette.requests import Request

from tableau_sandbox.errors import ApiError
from tableau_sandbox.state import Store

_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
            429: "Too Many Requests"}


class HttpFaults:
    """Rules: {"method": "POST", "path": "regex", "status": 503, "count": 1, "latency_ms": 0, "hold": false}.

    A rule matches requests whose method and URL path match; ``count`` (default 1, -1 = forever)
    limits how many requests it hits. ``hold`` parks matching requests until ``release()``.
    """

    def __init__(self) -> None:
        self.rules: list[dict] = []
        self._lock = threading.Lock()
        self._release = asyncio.Event()
        self.held = 0

    def set(self, rules: list[dict]) -> None:
        with self._lock:
            for r in rules:
                r.setdefault("count", 1)
                if "path" in r:
                    re.compile(r["path"])
            self.rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
        self.release()

    def release(self) -> None:
        self._release.set()
        self._release = asyncio.Event()

    def _match(self, request: Request) -> dict | None:
        with self._lock:
            for rule in self.rules:
                if rule["count"] == 0:
                    continue
                if rule.get("method") and rule["method"].upper() != request.method:
                    continue
                if rule.get("path") and not re.search(rule["path"], request.url.path):
                    continue
                if rule["count"] > 0:
                    rule["count"] -= 1
                return dict(rule)
        return None

    async def apply(self, request: Request, route_name: str) -> None:
        rule = self._match(request)
        if rule is None:
            return
        if rule.get("latency_ms"):
            await asyncio.sleep(rule["latency_ms"] / 1000)
        if rule.get("hold"):
            event = self._release
            self.held += 1
            try:
                await asyncio.wait_for(event.wait(), timeout=float(rule.get("hold_timeout_s", 30)))
            except asyncio.TimeoutError:
                pass
            finally:
                self.held -= 1
        status = rule.get("status")
        if status:
            status = int(status)
            raise ApiError(status, f"{status}000", _REASONS.get(status, "Error"),
                           rule.get("detail", "Injected fault (sandbox)."),
                           {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") else None)


class ConcurrencyLimiter:
    """Tableau Cloud caps concurrent REST requests per site; beyond the cap it answers 429."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.rejected = 0

    def acquire(self, site_id: str) -> str:
        limit = self.store.limits.get("max_concurrent_requests")
        with self._lock:
            current = self.in_flight.get(site_id, 0)
            if limit is not None and current >= limit:
                self.rejected += 1
                raise ApiError(429, "429000", "Too Many Requests",
                               f"Too many concurrent requests for this site (limit {limit}). Retry later.",
                               {"Retry-After": "1"})
            self.in_flight[site_id] = current + 1
        return site_id

    def release(self, site_id: str) -> None:
        with self._lock:
            self.in_flight[site_id] = max(0, self.in_flight.get(site_id, 1) - 1)
