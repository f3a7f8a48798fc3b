"""Concurrent page fetching (prefetch.PageScheduler / OffsetRead) and the per-realm limiter.

An in-test fake of QBO's query endpoint (thread-safe, ordered by timestamp then Id like QBO)
lets records change between page requests; whatever the interleaving of the page threads,
every record is read, unchanged records exactly once, changed ones in their newest version, in
`LastUpdatedTime` order (resumable bookmarks)."""

from __future__ import annotations

import datetime
import re
import threading
import time

import msgspec
import pytest

from tap_quickbooks_online import rate_limit
from tap_quickbooks_online.client import QueryResult
from tap_quickbooks_online.prefetch import PageScheduler, close_page_scheduler, page_scheduler
from tap_quickbooks_online.progress import StreamProgress
from tap_quickbooks_online.tap import TapQuickBooksOnline

BASE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-8)))


def stamp(seconds: int) -> str:
    return (BASE + datetime.timedelta(seconds=seconds)).isoformat()


def utc(seconds: int) -> str:
    return (BASE + datetime.timedelta(seconds=seconds)).astimezone(
        datetime.timezone.utc).isoformat()


def invoice(i: int, seconds: int) -> dict:
    return {"Id": str(i), "SyncToken": "0", "MetaData": {"LastUpdatedTime": stamp(seconds)},
            "TotalAmt": "1.00", "Line": []}


class FakeQbo:
    """`SELECT * | COUNT(*) FROM Invoice [WHERE Metadata.LastUpdatedTime >= 'x'] ... STARTPOSITION
    n MAXRESULTS m`; `before_page(fake, start)` runs (under the lock) before a page is cut."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = {r["Id"]: r for r in rows}
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.before_page = None
        self.clock = 10_000  # seconds after BASE of the next change

    def __call__(self, realm_id: str, statement: str) -> QueryResult:
        with self.lock:
            self.calls.append(statement)
            if "COUNT(*)" in statement:
                return result({"totalCount": len(self._matching(statement))})
            start = int(re.search(r"STARTPOSITION (\d+)", statement).group(1))
            size = int(re.search(r"MAXRESULTS (\d+)", statement).group(1))
            if self.before_page:
                self.before_page(self, start)
            page = self._matching(statement)[start - 1:start - 1 + size]
            return result({"Invoice": page} if page else {})

    def _matching(self, statement: str) -> list[dict]:
        match = re.search(r">= '([^']+)'", statement)
        rows = list(self.rows.values())
        if match:
            since = datetime.datetime.fromisoformat(match.group(1))
            rows = [r for r in rows if datetime.datetime.fromisoformat(
                r["MetaData"]["LastUpdatedTime"]) >= since]
        return sorted(rows, key=lambda r: (datetime.datetime.fromisoformat(
            r["MetaData"]["LastUpdatedTime"]), int(r["Id"])))

    def touch(self, id_: str) -> None:
        """A change: new SyncToken, the newest timestamp (the record moves to the end)."""
        self.clock += 1
        row = dict(self.rows[id_])
        row["SyncToken"] = str(int(row["SyncToken"]) + 1)
        row["MetaData"] = {"LastUpdatedTime": stamp(self.clock)}
        self.rows[id_] = row

    def ordered_ids(self) -> list[str]:
        return [r["Id"] for r in self._matching("")]


def result(response: dict) -> QueryResult:
    return QueryResult({k: msgspec.Raw(msgspec.json.encode(v)) for k, v in response.items()})


def make_tap(selected: tuple[str, ...], *, page_size: int = 10, workers: int = 4,
             realms: tuple[str, ...] = ("9",)):
    tap = TapQuickBooksOnline(config={
        "client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": list(realms),
        "page_size": page_size, "max_concurrency": workers})
    for name, stream in tap.streams.items():
        stream.selected = name in selected
    return tap


def make_stream(fake: FakeQbo, *, page_size: int = 10, workers: int = 4):
    tap = make_tap(("invoices",), page_size=page_size, workers=workers)
    stream = tap.streams["invoices"]
    stream.progress = StreamProgress("invoices", stream.logger)
    stream.query = fake
    return tap, stream


def read_all(tap, stream, since: str | None = None) -> tuple[list[dict], object]:
    started: list = []
    pages = page_scheduler(tap).read(stream, "9", since, started)
    records = [r for page in pages for r in page]
    return records, pages.read


def check_exact(records: list[dict], fake: FakeQbo, changed: set[str],
                deleted: frozenset[str] = frozenset()) -> None:
    """Every current record read in its current version, unchanged ones exactly once, sorted
    (a record deleted mid-read may have been read before its deletion)."""
    latest: dict[str, str] = {}
    counts: dict[str, int] = {}
    for r in records:
        latest[r["Id"]] = r["SyncToken"]
        counts[r["Id"]] = counts.get(r["Id"], 0) + 1
    assert set(fake.rows) <= set(latest) <= set(fake.rows) | deleted
    for id_, row in fake.rows.items():
        assert latest[id_] == row["SyncToken"], id_
        if id_ not in changed:
            assert counts[id_] == 1, id_
    stamps = [r["updated_at"] for r in records]
    assert stamps == sorted(stamps)


def test_offset_pages_are_fetched_concurrently_and_read_once():
    fake = FakeQbo([invoice(i, i) for i in range(1, 96)])
    barrier = threading.Barrier(3, timeout=20)

    def hold_three(f, start):
        if start in (10, 19, 28):  # pages 1-3 (stride 9): only answered once all 3 are asked
            f.lock.release()
            try:
                barrier.wait()
            finally:
                f.lock.acquire()

    fake.before_page = hold_three
    tap, stream = make_stream(fake)
    records, read = read_all(tap, stream)
    assert [r["Id"] for r in records] == [str(i) for i in range(1, 96)]
    assert stream.progress.total == 95
    assert read.gap_fills == 0
    # page 0, COUNT, 9 overlapping offset pages, then one keyset request for the rest
    assert sum("COUNT(*)" in c for c in fake.calls) == 1
    assert len(fake.calls) == 12


@pytest.mark.parametrize("workers", [1, 4])
def test_records_leaving_their_place_mid_read_are_not_skipped(workers):
    fake = FakeQbo([invoice(i, i) for i in range(1, 121)])
    changed: set[str] = set()

    def shift(f, start):
        # Before page 3 (STARTPOSITION 28) is cut: 4 records ahead of it change (and move to
        # the end) and one is deleted, so everything after them slides 5 places down.
        if start == 28 and not changed:
            for id_ in ("3", "5", "12", "20"):
                f.touch(id_)
                changed.add(id_)
            del f.rows["7"]

    fake.before_page = shift
    tap, stream = make_stream(fake, workers=workers)
    records, read = read_all(tap, stream)
    check_exact(records, fake, changed, frozenset({"7"}))
    if workers == 1:  # pages in order: page 3 comes after the shift, page 2 before it
        assert read.gap_fills == 1


def test_changes_during_the_read_are_read_in_their_new_version():
    fake = FakeQbo([invoice(i, i) for i in range(1, 61)])
    changed: set[str] = set()
    state = {"pages": 0}

    def churn(f, start):
        state["pages"] += 1
        if state["pages"] in (2, 4, 6):  # keep changing records, read or not yet read
            for id_ in sorted(set(f.rows) - changed)[::17]:
                f.touch(id_)
                changed.add(id_)

    fake.before_page = churn
    tap, stream = make_stream(fake, workers=3)
    records, _ = read_all(tap, stream)
    check_exact(records, fake, changed)


def test_more_ties_than_a_page_with_offset_pages():
    rows = [invoice(i, 5) for i in range(1, 26)] + [invoice(i, 6) for i in range(26, 41)]
    fake = FakeQbo(rows)
    tap, stream = make_stream(fake)
    records, _ = read_all(tap, stream)
    assert sorted(int(r["Id"]) for r in records) == list(range(1, 41))
    assert len(records) == 40


def test_since_and_a_single_short_page_cost_one_request():
    fake = FakeQbo([invoice(i, i) for i in range(1, 21)])
    tap, stream = make_stream(fake)
    records, _ = read_all(tap, stream, since=stamp(15))
    assert [r["Id"] for r in records] == ["15", "16", "17", "18", "19", "20"]
    assert records[0]["updated_at"] == utc(15)
    assert len(fake.calls) == 1 and ">= '" in fake.calls[0]


def test_error_on_a_page_surfaces_after_the_pages_before_it():
    fake = FakeQbo([invoice(i, i) for i in range(1, 60)])

    def fail(f, start):
        if start == 28:
            raise RuntimeError("connection lost")

    fake.before_page = fail
    tap, stream = make_stream(fake)
    got: list[dict] = []
    pages = page_scheduler(tap).read(stream, "9", None)
    with pytest.raises(RuntimeError, match="connection lost"):
        for page in pages:
            got.extend(page)
    pages.close()
    assert [r["Id"] for r in got] == [str(i) for i in range(1, 29)]  # pages 0-2, not 3


def test_streams_after_the_current_one_are_fetched_ahead():
    fake = FakeQbo([invoice(i, i) for i in range(1, 31)])
    bills: list[str] = []
    tap = make_tap(("bills", "invoices"))
    bill_stream, invoice_stream = tap.streams["bills"], tap.streams["invoices"]
    fetched = threading.Event()

    def bill_query(realm_id, statement):
        bills.append(statement)
        fetched.set()
        return result({})

    bill_stream.query = bill_query
    invoice_stream.query = fake
    invoice_stream.progress = StreamProgress("invoices", invoice_stream.logger)
    # bills sync first: its read registers the invoices read of the same realm ahead
    page_scheduler(tap).read(bill_stream, "9", None).close()
    scheduler = page_scheduler(tap)
    assert ("invoices", "9") in scheduler._registered  # noqa: SLF001
    deadline = time.monotonic() + 20
    while not any("FROM Invoice" in c for c in fake.calls) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any("FROM Invoice" in c for c in fake.calls)  # before invoices' turn came
    records = [r for page in scheduler.read(invoice_stream, "9", None) for r in page]
    assert [r["Id"] for r in records] == [str(i) for i in range(1, 31)]


def test_the_end_of_a_run_stops_reads_fetched_ahead():
    fake = FakeQbo([invoice(i, i) for i in range(1, 200)])
    tap = make_tap(("bills", "invoices"))
    tap.streams["bills"].query = lambda realm_id, statement: result({})
    tap.streams["invoices"].query = fake
    scheduler = page_scheduler(tap)
    scheduler.read(tap.streams["bills"], "9", None).close()
    ahead = scheduler._registered[("invoices", "9")]  # noqa: SLF001
    close_page_scheduler(tap)  # what sync_all does when it ends, however it ends
    assert ahead.closed and not ahead.pool.reads
    assert "_page_scheduler" not in tap.__dict__


def test_pages_fetched_ahead_stay_within_the_window_over_all_realms(monkeypatch):
    monkeypatch.setattr(PageScheduler, "window_pages", 3)
    fakes = {"9": FakeQbo([invoice(i, i) for i in range(1, 300)]),
             "10": FakeQbo([invoice(i, i) for i in range(1, 300)])}
    tap = make_tap(("bills", "invoices"), realms=("9", "10", "11"))
    tap.streams["bills"].query = lambda realm_id, statement: result({})
    tap.streams["invoices"].query = lambda realm_id, statement: fakes.get(
        realm_id, FakeQbo([]))(realm_id, statement)
    scheduler = page_scheduler(tap)
    scheduler.read(tap.streams["bills"], "9", None).close()  # invoices registered ahead
    pools = scheduler._all_pools  # noqa: SLF001
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            any(pool.threads for pool in pools) or sum(p.buffered for p in pools) == 0):
        time.sleep(0.02)
    buffered = [pool.buffered for pool in pools]
    assert 0 < sum(buffered) <= 6 and max(buffered) <= 3  # nobody is writing: all ahead
    # the reader of realm 10 still gets every page in order
    invoices = tap.streams["invoices"]
    invoices.progress = StreamProgress("invoices", invoices.logger)
    records = [r for page in scheduler.read(invoices, "10", None) for r in page]
    assert [r["Id"] for r in records] == [str(i) for i in range(1, 300)]
    close_page_scheduler(tap)


def test_limiter_keeps_concurrency_and_counts_the_window_from_responses(monkeypatch):
    monkeypatch.setattr(rate_limit, "WINDOW_SECONDS", 0.3)
    limiter = rate_limit.RealmLimiter(requests_per_minute=3, max_concurrency=2)
    lock = threading.Lock()
    in_flight = {"now": 0, "peak": 0}

    def request():
        with limiter:
            with lock:
                in_flight["now"] += 1
                in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
            time.sleep(0.01)
            with lock:
                in_flight["now"] -= 1

    threads = [threading.Thread(target=request) for _ in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert in_flight["peak"] == limiter.peak_in_flight == 2

    # the 4th request of a window starts a full window after the 1st one's *response*
    time.sleep(rate_limit.WINDOW_SECONDS)
    ends, starts = [], []
    for _ in range(4):
        with limiter:
            starts.append(time.monotonic())
            ends.append(time.monotonic())
    assert starts[3] - ends[0] >= rate_limit.WINDOW_SECONDS
