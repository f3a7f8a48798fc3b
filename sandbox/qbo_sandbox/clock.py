"""The sandbox clock: wall time plus an offset that tests move with ``POST /_sandbox/clock``.

Everything time-dependent (token expiry, refresh-token rotation, MetaData.LastUpdatedTime of
changes, the CDC 30-day window, rate-limit windows) reads this clock, so a test can jump hours
or days ahead in milliseconds.
"""
from __future__ import annotations

import threading
import time


class SandboxClock:
    def __init__(self, start: float | None = None):
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start - time.time()
        self._last = 0.0

    def now(self) -> float:
        """Epoch seconds; never goes backwards unless set explicitly."""
        with self._lock:
            t = time.time() + self._offset
            if t < self._last:
                t = self._last
            self._last = t
            return t

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, epoch_seconds: float) -> float:
        with self._lock:
            self._offset = epoch_seconds - time.time()
            self._last = epoch_seconds
        return self.now()
