"""Per-realm request limiter: QBO allows 500 requests/minute and 10 concurrent requests per realm.

One `RealmLimiter` per realm, shared by every stream and page-fetch thread of a tap run
(`RateLimiters.for_realm`). `with limiter:` blocks until a request may start and releases its
slot on exit.

The minute window is kept the conservative way round, so that running at the full 500/min never
draws a 429: QBO counts a request when it *arrives*, which is some time after the tap sent it
(network, a busy server), so a window keyed on send times can let a request in while the server
still counts an earlier one. Here a request counts from the moment it is sent until 60 s after
its *response* came back (an upper bound of its arrival): at most `requests_per_minute` requests
are in flight or finished within the last 60 s. The cost is one response time a minute (about 1 s
in 60 on 1000-row pages).
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
                 clock=time.monotonic) -> None:
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self._finished: collections.deque[float] = collections.deque()  # response times
        self._in_flight = 0
        self._cond = threading.Condition()
        self._clock = clock
        self.waited_seconds = 0.0
        #: most requests seen in flight at once (tests and benchmarks read it)
        self.peak_in_flight = 0

    def _expire(self, now: float) -> None:
        finished = self._finished
        while finished and now - finished[0] >= WINDOW_SECONDS:
            finished.popleft()

    def __enter__(self) -> RealmLimiter:
        with self._cond:
            while True:
                now = self._clock()
                self._expire(now)
                if self._in_flight < self.max_concurrency and \
                        self._in_flight + len(self._finished) < self.requests_per_minute:
                    self._in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                    return self
                if self._in_flight >= self.max_concurrency or not self._finished:
                    wait = None  # until a request in flight finishes
                else:
                    wait = WINDOW_SECONDS - (now - self._finished[0]) + 0.001
                began = self._clock()
                self._cond.wait(wait)
                self.waited_seconds += self._clock() - began

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._in_flight -= 1
            self._finished.append(self._clock())
            self._cond.notify_all()


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
