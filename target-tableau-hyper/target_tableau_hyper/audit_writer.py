"""Background writer of the per-batch audit rows, so the audit DB insert of batch k overlaps
with the next batch's Hyper load (SQLite releases the GIL while it inserts).

Order and durability: the loader thread submits a batch's audit write after the batch is
committed to its .hyper file; the target's state barrier (`wait_for_loads`) waits for the
loads, then for this writer, so a STATE still leaves only after the audit rows it covers are
written. Writes run one at a time in submission order; at most one waits behind the running
one (memory stays bounded by the batch size).
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import typing as t


class AuditWriter:
    """One background thread writing audit batches in order (see module doc)."""

    def __init__(self) -> None:
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: collections.deque[concurrent.futures.Future] = collections.deque()
        self._lock = threading.Lock()

    def submit(self, write: t.Callable[[], None]) -> None:
        """Queue a write; re-raises the failure of an earlier one."""
        with self._lock:
            while self._pending and self._pending[0].done():
                self._pending.popleft().result()
            if len(self._pending) >= 2:
                self._pending.popleft().result()  # back-pressure on the loader thread
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="audit-write"
                )
            self._pending.append(self._executor.submit(write))

    def wait(self, *, ignore_errors: bool = False) -> None:
        """Barrier: every queued write done (raises the first failure unless ignore_errors)."""
        with self._lock:
            while self._pending:
                future = self._pending.popleft()
                try:
                    future.result()
                except BaseException:
                    if not ignore_errors:
                        raise

    def close(self) -> None:
        self.wait(ignore_errors=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def checkpoint(log: t.Any) -> None:
    """SQLite: copy the WAL into the database file now, in the writer thread while the next
    batch loads, rather than all at once when the run closes the DB (at the end of the run,
    when nothing else is left to overlap with). Passive: never blocks a reader or writer."""
    if log.engine.dialect.name != "sqlite":
        return
    with log.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
