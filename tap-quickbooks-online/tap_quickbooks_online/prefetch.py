"""Run a page generator ahead of its consumer in a worker thread, keeping order.

QBO pages are fetched with keyset paging (each query starts at the last timestamp of the
previous page), so page n+1 cannot be requested before page n has arrived; what can overlap is
the network wait for page n+1 with the encoding and writing of page n, and the reads of other
realms. `Prefetcher` does that with a bounded queue (`depth` items), so memory stays bounded
whatever the stream size. `close()` (record limit, error, end of sync) stops the worker after
its current request.
"""

from __future__ import annotations

import queue
import threading
import typing as t

T = t.TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher(t.Generic[T]):
    def __init__(self, produce: t.Callable[[], t.Iterator[T]], *, depth: int = 2,
                 name: str = "qbo-prefetch") -> None:
        self._produce = produce
        self._items: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._started = False

    def start(self) -> Prefetcher[T]:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            iterator = self._produce()
            try:
                for item in iterator:
                    if not self._put(item):
                        return
            finally:
                close = getattr(iterator, "close", None)
                if close:
                    close()
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            self._put(_Failure(exc))

    def __iter__(self) -> t.Iterator[T]:
        self.start()
        try:
            while True:
                item = self._items.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._started and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)


def run_ahead(produce: t.Callable[[], t.Iterator[T]], *, depth: int = 2,
              name: str = "qbo-prefetch") -> t.Iterator[T]:
    """Iterate `produce()` with its items fetched ahead in a worker thread."""
    return iter(Prefetcher(produce, depth=depth, name=name))
