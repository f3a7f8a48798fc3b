"""Debounced trigger: runs the incremental pipeline when change events wait in the queue.

One worker thread, so never two runs at once. After an event arrives it waits for
`debounce_s` of quiet (a burst becomes one run), but no longer than `max_delay_s` after the first
waiting event (a steady trickle still syncs). Events arriving *during* a run wait for one
follow-up run, however many they are: at most one run is ever "queued" behind the running one.

A run covers the waiting events up to a watermark (see `event_queue`) and marks them done only
when the command exits 0. A failure (non-zero exit, timeout, command not found) leaves them
waiting and retries after `retry_s`, doubling up to `retry_max_s`; new events do not cut that
backoff short (the tap's incremental sync fetches everything changed anyway).

The command gets the environment of the receiver plus:
* `QBO_WEBHOOK_CHANGES` — JSON `{"<realm_id>": ["Invoice", "Customer", …]}`: the entities QBO
  reported changed. The tap does not read it (yet): its incremental sync uses CDC per realm,
  which costs one request per realm and entity group and returns only changed rows. A future tap
  option could narrow the CDC entity list to this.
* `QBO_WEBHOOK_RUN_ID` — the run's row in `qbo_webhook_runs` (for logs).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from tap_quickbooks_online.webhooks.event_queue import Batch, EventQueue

log = logging.getLogger("tap_quickbooks_online.webhooks.trigger")


class RunTrigger:
    def __init__(self, queue: EventQueue, command: Sequence[str], *, debounce_s: float = 5.0,
                 max_delay_s: float = 30.0, retry_s: float = 30.0, retry_max_s: float = 900.0,
                 run_timeout_s: float = 3600.0, cwd: str | None = None, retention_s: float = 7 * 86400,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.queue = queue
        self.command = list(command)
        self.debounce_s, self.max_delay_s = debounce_s, max_delay_s
        self.retry_s, self.retry_max_s = retry_s, retry_max_s
        self.run_timeout_s = run_timeout_s
        self.cwd = cwd
        self.retention_s = retention_s
        self._clock = clock
        self._cond = threading.Condition()
        self._first_waiting: float | None = None  # first event not yet covered by a started run
        self._last_event: float | None = None
        self._retry_at: float | None = None
        self._failures = 0
        self._stopping = False
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._orphans: list[int] = []
        self.runs_started = self.runs_succeeded = self.runs_failed = 0

    # --- control -----------------------------------------------------------------------------
    def start(self) -> None:
        self._orphans = [r["pid"] for r in self.queue.unfinished_runs()
                         if r["pid"] and r["host"] == socket.gethostname() and _alive(r["pid"])]
        interrupted = self.queue.mark_interrupted_runs()
        if interrupted:
            log.warning("webhooks: %d run(s) were interrupted by a restart; their events are run again", interrupted)
        waiting = self.queue.waiting_count()
        if waiting:
            log.info("webhooks: %d event(s) waiting from before the restart", waiting)
            self.notify()
        self._thread = threading.Thread(target=self._loop, name="qbo-webhook-trigger", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """New events are in the queue (called after they are committed)."""
        with self._cond:
            now = self._clock()
            if self._first_waiting is None:
                self._first_waiting = now
            self._last_event = now
            self._cond.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker; a run in progress is terminated (its events stay waiting)."""
        with self._cond:
            self._stopping = True
            proc = self._proc
            self._cond.notify_all()
        if proc is not None and proc.poll() is None:
            proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._proc is not None

    # --- worker ------------------------------------------------------------------------------
    def _due_at(self) -> float | None:
        """When the next run may start (None: nothing waiting)."""
        if self._first_waiting is None:
            return None
        due = min(self._last_event + self.debounce_s, self._first_waiting + self.max_delay_s)
        if self._retry_at is not None:
            due = max(due, self._retry_at)
        return due

    def _wait_for_orphans(self) -> None:
        """A run started by a receiver that died may still be going: never run beside it."""
        deadline = time.monotonic() + self.run_timeout_s
        for pid in self._orphans:
            if _alive(pid):
                log.warning("webhooks: waiting for run process %d left by the previous receiver", pid)
            while _alive(pid) and not self._stopping and time.monotonic() < deadline:
                time.sleep(0.2)
        self._orphans = []

    def _loop(self) -> None:
        self._wait_for_orphans()
        last_purge = 0.0
        while True:
            with self._cond:
                while not self._stopping:
                    due = self._due_at()
                    now = self._clock()
                    if due is not None and now >= due:
                        break
                    self._cond.wait(timeout=None if due is None else due - now)
                if self._stopping:
                    return
                self._first_waiting = None  # events from now on wait for the next run
                self._last_event = None
            try:
                self._run_once()
            except Exception:  # the database went away, …: keep the events, try again later
                log.exception("webhooks: run bookkeeping failed; retrying later")
                self._failed()
            if time.time() - last_purge > 3600:
                last_purge = time.time()
                try:
                    self.queue.purge_done(self.retention_s)
                except Exception:
                    log.exception("webhooks: purge of done events failed")

    def _failed(self) -> None:
        with self._cond:
            self._failures += 1
            delay = min(self.retry_s * 2 ** (self._failures - 1), self.retry_max_s)
            now = self._clock()
            self._retry_at = now + delay
            # The batch is still waiting: make sure the loop comes back to it.
            if self._first_waiting is None:
                self._first_waiting = self._last_event = now
        log.warning("webhooks: next try in %.1f s (failure %d)", delay, self._failures)

    def _run_once(self) -> None:
        batch = self.queue.next_batch()
        if batch is None:
            return
        run_id = self.queue.start_run(batch)
        self.runs_started += 1
        exit_code = self._execute(batch, run_id)
        done = self.queue.finish_run(run_id, batch, exit_code)
        if exit_code == 0:
            self.runs_succeeded += 1
            with self._cond:
                self._failures = 0
                self._retry_at = None
            log.info("webhooks: run %d succeeded; %d event(s) done", run_id, done)
        else:
            self.runs_failed += 1
            log.warning("webhooks: run %d failed (exit %s); %d event(s) stay queued", run_id, exit_code, batch.events)
            self._failed()

    def _execute(self, batch: Batch, run_id: int) -> int | None:
        env = {**os.environ, "QBO_WEBHOOK_CHANGES": json.dumps(batch.changes, separators=(",", ":")),
               "QBO_WEBHOOK_RUN_ID": str(run_id)}
        log.info("webhooks: run %d starting for %d event(s) in %d realm(s): %s", run_id, batch.events,
                 len(batch.changes), self.command[0])
        started = time.monotonic()
        try:
            proc = subprocess.Popen(self.command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL)
        except OSError as exc:
            log.error("webhooks: run %d could not start %s: %s", run_id, self.command[0], type(exc).__name__)
            return None
        try:
            self.queue.set_run_process(run_id, socket.gethostname(), proc.pid)
        except Exception:  # bookkeeping only; the run itself goes on
            log.exception("webhooks: could not record the process of run %d", run_id)
        with self._cond:
            self._proc = proc
            if self._stopping:
                proc.terminate()
        try:
            code = proc.wait(timeout=self.run_timeout_s)
        except subprocess.TimeoutExpired:
            log.error("webhooks: run %d took over %.0f s; killed", run_id, self.run_timeout_s)
            proc.kill()
            proc.wait()
            code = None
        finally:
            with self._cond:
                self._proc = None
        log.info("webhooks: run %d exited %s after %.1f s", run_id, code, time.monotonic() - started)
        return code


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True
