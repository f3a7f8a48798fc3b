"""Fetch QBO query pages ahead of the record writer, concurrently, within the realm's limits.

Two tools:

* `Prefetcher` / `run_ahead`: run a page generator in one worker thread, a bounded queue ahead
  of its consumer (used where each request depends on the previous one: keyset paging of a
  large incremental backlog).
* `PageScheduler` (one per tap run, `page_scheduler(tap)`): full reads by query are fetched by
  a pool of up to `max_concurrency` threads per realm, several pages at once, and the pages of
  the *next* streams are fetched while the current one is written (the SDK syncs streams one
  after another). That is what lets a full sync run at the rate limit (500 requests/min per
  realm) instead of at one request per response time.

How a read stays exact while records change (`OffsetRead`): page 0 is read; when it is full,
`COUNT(*)` gives the size and the pages that should be full are requested concurrently by
`STARTPOSITION`, ordered by `Metadata.LastUpdatedTime`. Consecutive pages overlap by about 1 %
(`overlap` rows). A record changed (or deleted) during the read leaves its place for the end of
the order, so later positions shift *down* (never up: a change always gets the newest
timestamp). The consumer checks every seam: the first row of page k must be one of the rows of
page k-1; if it is not, rows may have slipped between the two pages, and the gap is read by
keyset paging from the last record written up to page k. Rows seen twice (the overlap) are
dropped by (Id, SyncToken); only the rows around the seam are compared (`_seam`: a repeated
row has the same timestamp on both pages), not whole pages. After the offset pages, a keyset
read from the last record reads the rest, which includes every record changed during the read
in its new version. Records come out in `LastUpdatedTime` order, so the bookmark stays exact
and resumable.

Memory stays bounded whatever the company's size (and the number of realms): a realm's pool
holds at most `window` pages (fetched or in flight, not yet written) of the read being written,
and the reads further ahead share `window` pages per realm and `2 * window` over all realms.
The read being written always gets its pages first, so it never waits behind later reads.
"""

from __future__ import annotations

import bisect
import operator
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


# ---- concurrent full reads ----------------------------------------------------------------
_WAITING, _RUNNING, _DONE_STATE = 0, 1, 2


class _Task:
    """One page request of a read: page `index` (0 = STARTPOSITION 1)."""

    __slots__ = ("error", "index", "read", "rows", "state")

    def __init__(self, read: OffsetRead, index: int) -> None:
        self.read = read
        self.index = index
        self.state = _WAITING
        self.rows: list[dict] | None = None
        self.error: BaseException | None = None


def _identity(record: dict) -> tuple[t.Any, t.Any]:
    return record["Id"], record.get("SyncToken")


class OffsetRead:
    """One stream's query read of one realm from `since` (see the module docstring)."""

    def __init__(self, pool: _RealmPool, stream: t.Any, since: str | None) -> None:
        self.pool = pool
        self.stream = stream
        self.realm_id = pool.realm_id
        self.since = since
        self.page_size = int(stream.config.get("page_size", 1000))
        self.overlap = max(1, self.page_size // 100) if self.page_size > 1 else 0
        self.stride = self.page_size - self.overlap
        self.tasks: list[_Task] = [_Task(self, 0)]
        self.planned = False  # True once page 0 is in and every offset page is listed
        self.total: int | None = None
        self.server_time: t.Any = None
        self.buffered = 0
        self.closed = False
        self._next_waiting = 0
        self.gap_fills = 0

    # ---- worker side (called by the pool's threads) ---------------------------------------
    def next_waiting(self) -> _Task | None:
        while self._next_waiting < len(self.tasks):
            task = self.tasks[self._next_waiting]
            if task.state == _WAITING:
                return task
            self._next_waiting += 1
        return None

    def fetch(self, task: _Task) -> list[dict]:
        stream, realm_id = self.stream, self.realm_id
        tap = stream._tap  # noqa: SLF001
        start = 1 + task.index * self.stride
        statement = stream.select(self.since, start, self.page_size)
        response = None
        if task.index == 0 and not stream.cdc_capable and tap.batch_enabled:
            response = tap.batch_cache.take(stream, realm_id, statement)
        if response is None:
            response = stream.query(realm_id, statement)
        rows = stream.normalize_page(realm_id, response.rows(stream.entity))
        if task.index == 0:
            now, from_server = tap.server_now_estimate(realm_id)
            self.server_time = now if from_server else None
            total = len(rows) if len(rows) < self.page_size else \
                stream.count(realm_id, self.since)
            pages = 1
            if total is not None and total > self.page_size:
                pages += (total - self.page_size) // self.stride
            with self.pool.cond:
                self.total = total
                self.tasks.extend(_Task(self, k) for k in range(1, pages))
                self.planned = True
        return rows

    # ---- consumer side (the thread writing records) ----------------------------------------
    def _take(self, index: int) -> _Task | None:
        """Wait for page `index` and hand it over (None: no such page)."""
        cond = self.pool.cond
        taken: _Task | None = None
        with cond:
            self.pool.head = self
            self.pool.spawn()
            while True:
                if index < len(self.tasks):
                    task = self.tasks[index]
                    if task.state == _DONE_STATE:
                        self.buffered -= 1
                        self.pool.buffered -= 1
                        self.pool.spawn()
                        taken = task
                        break
                elif self.planned or self.tasks[0].error is not None:
                    return None
                cond.wait()
        if len(self.pool.siblings) > 1:
            self.pool.kick_siblings()
        return taken

    def pages(self, started: list | None) -> t.Iterator[list[dict]]:
        """The read's records, page by page, in `LastUpdatedTime` order."""
        stream, realm_id = self.stream, self.realm_id
        first = self._take(0)
        if first.error is not None:
            raise first.error
        if self.server_time is not None and started is not None:
            started.append(self.server_time)
        if stream.progress is not None:
            stream.progress.add_total(realm_id, self.total)
        cursor = _Cursor(self.since)
        rows, first.rows = first.rows, None
        if rows:
            cursor.advance(rows)
            yield rows
        if len(rows) < self.page_size:
            self.close()
            return
        previous, previous_stamps = rows, _stamps(rows)
        index = 1
        while True:
            task = self._take(index)
            if task is None:
                break
            if task.error is not None:
                raise task.error
            rows, task.rows = task.rows, None
            index += 1
            if not rows:
                break
            stamps = _stamps(rows)
            seen, checked = _seam(previous, previous_stamps, rows, stamps)
            if _identity(rows[0]) not in seen:
                # Rows before this page left their place since page index-1 was read: the
                # rows that slid between the two pages are read by keyset paging.
                self.gap_fills += 1
                current = {_identity(r) for r in rows}
                fill: list[dict] = []
                for record in self._keyset(cursor):
                    if _identity(record) in current or \
                            record["updated_at"] > rows[0]["updated_at"]:
                        break
                    fill.append(record)
                if fill:
                    cursor.advance(fill)
                    yield fill
                seen = seen | {_identity(r) for r in fill}
                checked = len(rows)  # (fill rows are at most as late as this page's first)
            # rows seen on the previous page (or in the fill) can only be among the first
            # `checked` rows of this one (see `_seam`)
            if checked:
                page = [r for r in rows[:checked] if _identity(r) not in seen]
                page += rows[checked:]
            else:
                page = rows
            if page:
                cursor.advance(page)
                yield page
            if len(rows) < self.page_size:
                break
            previous, previous_stamps = rows, stamps
        self.close()
        # The rest: keyset from the last record written, until a short page. It also reads
        # every record changed during this read, in its new version.
        tail: list[dict] = []
        for record in self._keyset(cursor):
            tail.append(record)
            if len(tail) >= self.page_size:
                cursor.advance(tail)
                yield tail
                tail = []
        if tail:
            yield tail

    def _keyset(self, cursor: _Cursor) -> t.Iterator[dict]:
        """Records after `cursor` by keyset paging (the consumer's own requests)."""
        stream, realm_id = self.stream, self.realm_id
        position = _Cursor(cursor.literal)
        position.utc, position.seen = cursor.utc, set(cursor.seen)
        skip = 0
        while True:
            response = stream.query(realm_id, stream.select(position.literal, skip + 1,
                                                            self.page_size))
            raw = response.rows(stream.entity)
            records = stream.normalize_page(realm_id, raw)
            for record in records:
                if record["updated_at"] == position.utc and _identity(record) in position.seen:
                    continue
                yield record
            if len(raw) < self.page_size:
                return
            if records[-1]["updated_at"] == position.utc:
                skip += len(raw)  # a full page of one timestamp: move on within it
            else:
                skip = 0
            position.advance(records)

    def close(self) -> None:
        """Stop fetching this read's pages and free what it holds."""
        with self.pool.cond:
            if self.closed:
                return
            self.closed = True
            for task in self.tasks:
                if task.state == _DONE_STATE and task.rows is not None:
                    task.rows = None
            self.pool.buffered -= self.buffered
            self.buffered = 0
            self.pool.forget(self)


class _Cursor:
    """Keyset position: the last timestamp written and the rows written at that timestamp."""

    __slots__ = ("literal", "seen", "utc")

    def __init__(self, literal: str | None) -> None:
        from tap_quickbooks_online import timeutil  # noqa: PLC0415

        self.literal = literal
        self.utc = timeutil.to_utc_iso(literal) if literal else None
        self.seen: set[tuple[t.Any, t.Any]] = set()

    def advance(self, records: list[dict]) -> None:
        """The position after `records` (written in this order): the last record's timestamp
        and the trailing run of records at that timestamp (with the rows seen before them
        when the whole list is at the current timestamp). Only the tail is looked at."""
        if not records:
            return
        last = records[-1]["updated_at"]
        start = len(records) - 1
        while start > 0 and records[start - 1]["updated_at"] == last:
            start -= 1
        run = {_identity(record) for record in records[start:]}
        if start == 0 and last == self.utc:
            self.seen |= run
        else:
            self.utc, self.literal, self.seen = last, last, run


_stamp_of = operator.itemgetter("updated_at")


def _stamps(rows: list) -> list | None:
    """The rows' `updated_at`, if they are in `updated_at` order (None: not known to be)."""
    stamps = list(map(_stamp_of, rows))
    try:
        return stamps if stamps == sorted(stamps) else None
    except TypeError:  # a row without updated_at
        return None


def _seam(previous: list, previous_stamps: list | None, rows: list, stamps: list | None
          ) -> tuple[set, int]:
    """Which rows of `rows` may repeat rows of `previous` (the page before it in the read):
    the identities of the candidate rows of `previous`, and `checked`, the number of leading
    rows of `rows` to check against them.

    A row read twice is the same version of the same record, so it has the same `updated_at`
    on both pages: when both pages are sorted by it, only the rows of `previous` at or after
    the first timestamp of `rows`, and the rows of `rows` at or before the last timestamp of
    `previous`, can be repeats (usually the ~1 % overlap). Otherwise every row is checked."""
    if previous_stamps is None or stamps is None or not previous or not rows:
        return {_identity(r) for r in previous}, len(rows)
    first = bisect.bisect_left(previous_stamps, stamps[0])
    checked = bisect.bisect_right(stamps, previous_stamps[-1])
    return {_identity(r) for r in previous[first:]}, checked


class _ReadPages:
    """What `EntityStream._plan` iterates: the read's pages, closable before the end."""

    def __init__(self, read: OffsetRead, started: list | None) -> None:
        self.read = read
        self._started = started
        self._iterator: t.Iterator[list[dict]] | None = None

    def __iter__(self) -> t.Iterator[list[dict]]:
        if self._iterator is None:
            self._iterator = self.read.pages(self._started)
        return self._iterator

    def close(self) -> None:
        if self._iterator is not None:
            close = getattr(self._iterator, "close", None)
            if close:
                close()
        self.read.close()


class _RealmPool:
    """The page-fetch threads of one realm (at most `workers`, started on demand)."""

    def __init__(self, realm_id: str, workers: int, window: int,
                 siblings: list[_RealmPool] | None = None, total_window: int = 0) -> None:
        self.realm_id = realm_id
        self.workers = workers
        self.window = window
        #: every realm's pool: pages fetched ahead for later reads count against one shared
        #: `total_window`, so memory does not grow with the number of realms
        self.siblings = siblings if siblings is not None else [self]
        self.total_window = total_window or window
        self.cond = threading.Condition()
        self.reads: list[OffsetRead] = []
        self.head: OffsetRead | None = None  # the read being written
        self.buffered = 0  # pages fetched or in flight, not yet written (all reads)
        self.threads = 0

    def add(self, read: OffsetRead) -> None:
        with self.cond:
            self.reads.append(read)
            self.spawn()

    def forget(self, read: OffsetRead) -> None:  # under cond
        if read in self.reads:
            self.reads.remove(read)
        if self.head is read:
            self.head = None
        self.cond.notify_all()
        self.spawn()

    def _next_task(self) -> _Task | None:  # under cond
        head = self.head if self.head is not None and not self.head.closed else None
        if head is not None and head.buffered < self.window:
            task = head.next_waiting()
            if task is not None:
                return task
        if self.buffered >= self.window or \
                sum(pool.buffered for pool in self.siblings) >= self.total_window:
            return None
        for read in self.reads:
            if read is not head:
                task = read.next_waiting()
                if task is not None:
                    return task
        return None

    def kick_siblings(self) -> None:
        """Room was freed: let the other realms' pools fetch ahead again (not under cond)."""
        for pool in self.siblings:
            if pool is not self:
                with pool.cond:
                    pool.spawn()

    def spawn(self) -> None:  # under cond
        while self.threads < self.workers and self._next_task() is not None:
            self.threads += 1
            threading.Thread(target=self._work, name=f"qbo-pages-{self.realm_id}",
                             daemon=True).start()
            break  # one at a time: each new thread takes its task before the next check

    def _work(self) -> None:
        cond = self.cond
        while True:
            with cond:
                task = self._next_task()
                if task is None:
                    self.threads -= 1
                    return
                task.state = _RUNNING
                read = task.read
                read.buffered += 1
                self.buffered += 1
                self.spawn()
            rows, error = None, None
            try:
                rows = read.fetch(task)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                error = exc
            with cond:
                task.state = _DONE_STATE
                if not read.closed:  # a closed read's pages were already let go
                    task.rows, task.error = rows, error
                cond.notify_all()


class PageScheduler:
    """Concurrent full reads of one tap run: one `_RealmPool` per realm."""

    #: pages (fetched or in flight, not yet written) of the read being written; reads further
    #: ahead share at most this many per realm and twice this many over all realms
    window_pages = 12

    def __init__(self, tap: t.Any) -> None:
        self.tap = tap
        self._pools: dict[str, _RealmPool] = {}
        self._all_pools: list[_RealmPool] = []
        self._registered: dict[tuple[str, str], OffsetRead] = {}
        self._lock = threading.Lock()
        self._looked_ahead = False

    def _pool(self, realm_id: str) -> _RealmPool:
        pool = self._pools.get(realm_id)
        if pool is None:
            realms = max(1, len(self.tap.realm_ids))
            workers = int(self.tap.limiters.max_concurrency)
            pool = self._pools[realm_id] = _RealmPool(
                realm_id, workers, self.window_pages, self._all_pools,
                total_window=self.window_pages * min(2, realms))
            self._all_pools.append(pool)
        return pool

    def read(self, stream: t.Any, realm_id: str, since: str | None,
             started: list | None = None) -> _ReadPages:
        """The pages of `stream` in `realm_id` from `since`: a read registered ahead if its
        `since` matches, else a new one (fetching starts now)."""
        with self._lock:
            key = (stream.name, realm_id)
            read = self._registered.pop(key, None)
            if read is not None and (read.since != since or read.closed):
                read.close()
                read = None
            if read is None:
                read = OffsetRead(self._pool(realm_id), stream, since)
                read.pool.add(read)
            if not self._looked_ahead:
                self._looked_ahead = True
                self._register_ahead(stream, realm_id)
        return _ReadPages(read, started)

    def _register_ahead(self, current: t.Any, current_realm: str) -> None:
        """Start the reads the SDK will ask for after this one, in sync order: `current` in the
        other realms, then the streams after it (first syncs only: no bookmark yet for that
        stream and realm, so their `since` is `start_date`)."""
        from tap_quickbooks_online import timeutil  # noqa: PLC0415

        start_date = self.tap.config.get("start_date")
        since = timeutil.qbo_literal(timeutil.parse(start_date)) if start_date else None
        streams = list(self.tap.streams.values())
        after = streams[streams.index(current):] if current in streams else []
        for stream in after:
            if stream.parent_stream_type or not supports_offset_paging(stream):
                continue
            if not (stream.selected or stream.has_selected_descendents):
                continue
            for realm_id in self.tap.realm_ids:
                if (stream is current and realm_id == current_realm) or \
                        _bookmark(self.tap, stream.name, realm_id) is not None:
                    continue
                read = OffsetRead(self._pool(realm_id), stream, since)
                self._registered[(stream.name, realm_id)] = read
                read.pool.add(read)


    def close(self) -> None:
        """End of the run (or a failed run): stop every read still fetching."""
        with self._lock:
            self._registered.clear()
            pools = list(self._pools.values())
        for pool in pools:
            with pool.cond:
                reads = list(pool.reads)
            for read in reads:
                read.close()


def _bookmark(tap: t.Any, stream_name: str, realm_id: str) -> t.Any:
    """A stream's bookmark for a realm, read without creating state entries."""
    stream_state = ((tap.state or {}).get("bookmarks") or {}).get(stream_name) or {}
    for partition in stream_state.get("partitions") or []:
        if partition.get("context") == {"realm_id": realm_id}:
            return partition.get("replication_key_value")
    return None


def supports_offset_paging(stream: t.Any) -> bool:
    """Entity streams with the standard `LastUpdatedTime` query (not singletons or
    Exchangerate, whose own paging reads everything)."""
    from tap_quickbooks_online.streams.entities import EntityStream  # noqa: PLC0415

    cls = type(stream)
    return isinstance(stream, EntityStream) and \
        cls._raw_query_pages is EntityStream._raw_query_pages and \
        cls.select is EntityStream.select  # noqa: SLF001


_SCHEDULER_LOCK = threading.Lock()


def close_page_scheduler(tap: t.Any) -> None:
    """Stop the run's page fetching (called when `sync_all` ends, however it ends)."""
    with _SCHEDULER_LOCK:
        scheduler = tap.__dict__.pop("_page_scheduler", None)
    if scheduler is not None:
        scheduler.close()


def page_scheduler(tap: t.Any) -> PageScheduler:
    """The tap run's scheduler (created on first use)."""
    with _SCHEDULER_LOCK:
        scheduler = tap.__dict__.get("_page_scheduler")
        if scheduler is None:
            scheduler = tap.__dict__["_page_scheduler"] = PageScheduler(tap)
        return scheduler
