"""Asynchronous jobs: queued -> in progress -> finished (finishCode 0 success, 1 failed, 2 cancelled).

Faults (set through the control API) make jobs slow (``delay_seconds``), keep them queued until
released (``hold``), or fail the next N jobs of a type (``fail``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from tableau_sandbox.errors import ApiError
from tableau_sandbox.hyperfiles import ActionError
from tableau_sandbox.state import Job, Store, new_id

Work = Callable[[Job], None]
Done = Callable[[Job], None]


class JobFailed(Exception):
    """Raised by job work to finish the job with finishCode 1 and this message in its notes."""


class JobRunner:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="tableau-job")
        self._stop = threading.Event()
        self.faults: dict = {"delay_seconds": 0.0, "hold": False, "fail": []}

    def new_job(self, site_id: str, type_: str, detail_tag: str | None = None, **refs) -> Job:
        now = self.store.clock.now()
        job = Job(new_id(), site_id, type_, now, detail_tag=detail_tag, updated_at=now, **refs)
        with self.store.lock:
            self.store.jobs[job.id] = job
        return job

    def submit(self, job: Job, work: Work, on_done: Done | None = None) -> Job:
        with self.store.lock:
            if self.faults.get("hold"):
                job.held = threading.Event()
        self._pool.submit(self._run, job, work, on_done)
        return job

    def release(self, job_id: str | None = None) -> int:
        """Let held jobs run (one job, or all when job_id is None)."""
        n = 0
        with self.store.lock:
            for job in self.store.jobs.values():
                if job.held is not None and not job.held.is_set() and (job_id is None or job.id == job_id):
                    job.held.set()
                    n += 1
        return n

    def cancel(self, job: Job) -> bool:
        with self.store.lock:
            if job.finish_code is not None:
                return False
            job.cancel_requested = True
            if job.held is not None:
                job.held.set()
            return True

    def _take_failure(self, job: Job) -> str | None:
        with self.store.lock:
            for rule in self.faults.get("fail", []):
                if rule.get("remaining", 0) > 0 and rule.get("type") in (None, job.type):
                    rule["remaining"] -= 1
                    return rule.get("notes") or "Injected failure (sandbox fault)."
        return None

    def _finish(self, job: Job, code: int, note: str | None = None) -> None:
        with self.store.lock:
            now = self.store.clock.now()
            job.finish_code = code
            job.completed_at = now
            job.updated_at = now
            if job.started_at is None:
                job.started_at = now
            job.progress = 100
            if note:
                job.notes.append(note)

    def _run(self, job: Job, work: Work, on_done: Done | None) -> None:
        try:
            if job.held is not None:
                while not job.held.wait(0.2):
                    if self._stop.is_set():
                        return
            if job.cancel_requested:
                self._finish(job, 2, "Cancelled by user.")
                return
            with self.store.lock:
                job.started_at = self.store.clock.now()
                job.updated_at = job.started_at
            delay = float(self.faults.get("delay_seconds") or 0)
            if delay > 0:
                with self.store.lock:
                    job.progress = 50
                if self._stop.wait(delay):
                    return
            if job.cancel_requested:
                self._finish(job, 2, "Cancelled by user.")
                return
            injected = self._take_failure(job)
            if injected is not None:
                self._finish(job, 1, injected)
                return
            try:
                work(job)
            except (JobFailed, ActionError) as exc:
                self._finish(job, 1, str(exc))
                return
            except ApiError as exc:
                self._finish(job, 1, exc.detail)
                return
            except Exception as exc:  # a bug in the sandbox shows up as a failed job, not a hung one
                self._finish(job, 1, f"Internal error: {type(exc).__name__}: {exc}")
                return
            self._finish(job, 0)
        finally:
            if on_done is not None and job.finish_code is not None:
                try:
                    on_done(job)
                except Exception:
                    pass

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.store.lock:
                # held jobs do not count: they wait for the test to release them
                busy = any(j.finish_code is None and (j.held is None or j.held.is_set())
                           for j in self.store.jobs.values())
            if not busy:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
