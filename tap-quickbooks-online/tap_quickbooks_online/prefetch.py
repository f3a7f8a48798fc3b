"""Run a page generator ahead of its consumer in a worker thread, keeping order.

QBO pages are fetched with keyset paging (each query starts at the last timestamp of the
previous page), so page n+1 cannot be requested before page n has arrived; what can overlap is
the network wait for page n+1 with the encoding and writing of page n. `run_ahead` does that
with a bounded queue (`depth` pages), so memory stays bounded whatever the stream size.
Closing the consumer generator (record limit, error) stops the worker after its current page.
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


def run_ahead(produce: t.Callable[[], t.Iterator[T]], *, depth: int = 2,
              name: str = "qbo-prefetch") -> t.Iterator[T]:
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            put(_Failure(exc))

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)
