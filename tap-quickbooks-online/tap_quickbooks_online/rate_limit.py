"""Per-realm request limiter: QBO allows 500 requests/minute and 10 concurrent requests per realm.

One `RealmLimiter` per realm, shared by every stream and prefetch thread of a tap run
(`RateLimiters.for_realm`). `with limiter:` blocks until a request may start (sliding
60-second window + concurrency semaphore) and releases the concurrency slot on exit.
"""

from __future__ import annotations

import collections
import threading
import time

QBO_MAX_REQUESTS_PER_MINUTE = 500
QBO_MAX_CONCURRENCY = 10
WINDOW_SECONDS = 60.0


class RealmLimiter:
    def __init__(self, requests_per_minute: int, max_concurrency: int,
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.requests_per_minute = requests_per_minute
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._starts: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waited_seconds = 0.0

    def _reserve_start(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= WINDOW_SECONDS:
                    self._starts.popleft()
                if len(self._starts) < self.requests_per_minute:
                    self._starts.append(now)
                    return
                wait = WINDOW_SECONDS - (now - self._starts[0]) + 0.001
            self.waited_seconds += wait
            self._sleep(wait)

    def __enter__(self) -> RealmLimiter:
        self._slots.acquire()
        try:
            self._reserve_start()
        except BaseException:
            self._slots.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._slots.release()


class RateLimiters:
    """Registry of per-realm limiters for one tap run."""

    def __init__(self, requests_per_minute: int, max_concurrency: int) -> None:
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self._by_realm: dict[str, RealmLimiter] = {}
        self._lock = threading.Lock()

    def for_realm(self, realm_id: str) -> RealmLimiter:
        with self._lock:
            limiter = self._by_realm.get(realm_id)
            if limiter is None:
                limiter = RealmLimiter(self.requests_per_minute, self.max_concurrency)
                self._by_realm[realm_id] = limiter
            return limiter
