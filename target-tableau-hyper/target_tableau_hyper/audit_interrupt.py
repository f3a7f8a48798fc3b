"""Stopping a run on SIGTERM / SIGINT (how Meltano, Airflow or a terminal stop a task).

While the target listens, both signals raise `RunInterrupted` in the main thread (Python runs
signal handlers there only), so the run ends through the same path as a failure: batches
already handed to the loader thread finish their commit (and their audit rows), records still
buffered are dropped (no STATE covers them: the tap sends them again), Hyper is stopped, and the
run is recorded as `interrupted` with the last state it emitted. The process exits 128 + signal
number (143 for SIGTERM, 130 for SIGINT).

A signal that arrives inside a `deferred()` section (recording a STATE in the audit and
writing it to stdout) is held until the section ends, so the audit never records a state that
was not emitted. Signals after the first one are ignored: the run is already ending.
"""

from __future__ import annotations

import signal
import threading
import typing as t

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(BaseException):
    """The run was stopped by a signal (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class InterruptGuard:
    """SIGTERM/SIGINT handlers for the duration of a run (main thread only; restored after)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferred = 0
        self._raised = False
        self._previous: dict[int, t.Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal.signal only works there; an embedding caller handles its signals
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def stop_raising(self) -> None:
        """The run is ending anyway: later signals are only remembered."""
        self._raised = True

    def _handle(self, signum: int, _frame: t.Any) -> None:
        if self.received is None:
            self.received = signum
        if self._raised or self._deferred:
            return
        self._raised = True
        raise RunInterrupted(signum)

    def deferred(self) -> "_Deferred":
        return _Deferred(self)


class _Deferred:
    def __init__(self, guard: InterruptGuard) -> None:
        self.guard = guard

    def __enter__(self) -> None:
        self.guard._deferred += 1

    def __exit__(self, exc_type: t.Any, exc: t.Any, tb: t.Any) -> None:
        guard = self.guard
        guard._deferred -= 1
        if exc_type is None and not guard._deferred and guard.received is not None and not guard._raised:
            guard._raised = True
            raise RunInterrupted(guard.received)
