"""Progress lines per stream: records done / total, rate and ETA at a steady cadence, and a
one-line summary when the stream ends.

Totals come from the query's COUNT(*) (asked only when the first page is full, i.e. when the
stream has more than one page), from the first page's length otherwise, or from the CDC cache.
"""

from __future__ import annotations

import logging
import time


class StreamProgress:
    def __init__(self, stream_name: str, logger: logging.Logger, *, interval: float = 10.0,
                 clock=time.monotonic) -> None:
        self.stream_name = stream_name
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_log = self.started
        self.done = 0
        self.total: int | None = 0
        self.deleted = 0
        self.requests_before = 0
        self.realms: list[str] = []

    def add_total(self, realm_id: str, count: int | None) -> None:
        if realm_id not in self.realms:
            self.realms.append(realm_id)
        if count is None or self.total is None:
            self.total = None
        else:
            self.total += count

    def advance(self, records: int, *, deleted: int = 0) -> None:
        self.done += records
        self.deleted += deleted
        now = self.clock()
        if now - self.last_log >= self.interval:
            self.last_log = now
            self.logger.info("%s", self.line(now))

    def rate(self, now: float | None = None) -> float:
        elapsed = max((now or self.clock()) - self.started, 1e-9)
        return self.done / elapsed

    def line(self, now: float | None = None) -> str:
        now = now or self.clock()
        rate = self.rate(now)
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            remaining = max(self.total - self.done, 0)
            eta = f"{remaining / rate:.0f}s" if rate > 0 else "unknown"
            return (f"progress {self.stream_name}: {self.done}/{self.total} records "
                    f"({pct:.1f}%), {rate:.0f} records/s, ETA {eta}")
        return f"progress {self.stream_name}: {self.done} records, {rate:.0f} records/s"

    def summary(self, requests: int) -> str:
        elapsed = self.clock() - self.started
        return (f"summary {self.stream_name}: {self.done} records ({self.deleted} deletes) from "
                f"{len(self.realms)} realm(s) in {elapsed:.1f}s, {self.rate():.0f} records/s, "
                f"{requests} requests")
