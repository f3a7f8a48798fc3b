"""Keyset paging against an in-test fake of QBO's query endpoint: stable while records change,
ties larger than a page, sorted output (resumable bookmarks)."""

from __future__ import annotations

import datetime
import re

import msgspec
import pytest

from tap_quickbooks_online.client import QueryResult
from tap_quickbooks_online.tap import TapQuickBooksOnline


def result(response: dict) -> QueryResult:
    """Shape an in-memory response the way the tap's query() returns it (raw JSON values)."""
    return QueryResult({k: msgspec.Raw(msgspec.json.encode(v)) for k, v in response.items()})

CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"],
          "page_size": 10}
BASE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-8)))


def stamp(seconds: int) -> str:
    return (BASE + datetime.timedelta(seconds=seconds)).isoformat()


class FakeQuery:
    """`SELECT * FROM Invoice [WHERE Metadata.LastUpdatedTime >= 'x'] ORDERBY ... STARTPOSITION
    n MAXRESULTS m` over an in-memory table, ordered by timestamp then Id (like QBO)."""

    def __init__(self, rows):
        self.rows = {r["Id"]: r for r in rows}
        self.calls = []
        self.after_call = None

    def __call__(self, realm_id, statement):
        self.calls.append(statement)
        if "COUNT(*)" in statement:
            return result({"totalCount": len(self._matching(statement))})
        start = int(re.search(r"STARTPOSITION (\d+)", statement).group(1))
        size = int(re.search(r"MAXRESULTS (\d+)", statement).group(1))
        page = self._matching(statement)[start - 1:start - 1 + size]
        response = result({"Invoice": page} if page else {})
        if self.after_call:
            self.after_call(self)
        return response

    def _matching(self, statement):
        match = re.search(r">= '([^']+)'", statement)
        rows = list(self.rows.values())
        if match:
            since = datetime.datetime.fromisoformat(match.group(1))
            rows = [r for r in rows if datetime.datetime.fromisoformat(
                r["MetaData"]["LastUpdatedTime"]) >= since]
        return sorted(rows, key=lambda r: (datetime.datetime.fromisoformat(
            r["MetaData"]["LastUpdatedTime"]), int(r["Id"])))

    def touch(self, id_, seconds):
        row = dict(self.rows[id_])
        row["SyncToken"] = str(int(row["SyncToken"]) + 1)
        row["MetaData"] = {"LastUpdatedTime": stamp(seconds)}
        self.rows[id_] = row


def invoice(i, seconds):
    return {"Id": str(i), "SyncToken": "0", "MetaData": {"LastUpdatedTime": stamp(seconds)},
            "TotalAmt": "1.00", "Line": []}


@pytest.fixture
def stream(monkeypatch):
    tap = TapQuickBooksOnline(config=CONFIG)
    s = tap.streams["invoices"]
    from tap_quickbooks_online.progress import StreamProgress  # noqa: PLC0415
    s.progress = StreamProgress("invoices", s.logger)
    return s


def read_all(stream, fake, since=None):
    stream.query = fake
    return [r for page in stream._raw_query_pages("9", since) for r in page]


def test_plain_paging_reads_everything_once(stream):
    fake = FakeQuery([invoice(i, i) for i in range(1, 36)])
    records = read_all(stream, fake)
    assert [r["Id"] for r in records] == [str(i) for i in range(1, 36)]
    # one COUNT (first page was full) + 4 pages
    assert sum("COUNT" in c for c in fake.calls) == 1
    assert stream.progress.total == 35


def test_changes_while_paging_are_not_missed(stream):
    fake = FakeQuery([invoice(i, i) for i in range(1, 41)])
    state = {"n": 0}

    def mutate(f):
        state["n"] += 1
        if state["n"] == 2:  # after the first page: change one read and one unread record
            f.touch("3", 1000)
            f.touch("25", 1001)
            f.rows["99"] = invoice(99, 1002)

    fake.after_call = mutate
    records = read_all(stream, fake)
    latest = {}
    for r in records:
        latest[r["Id"]] = r["SyncToken"]
    assert set(latest) == {str(i) for i in range(1, 41)} | {"99"}
    assert latest["3"] == "1" and latest["25"] == "1"
    stamps = [r["updated_at"] for r in records]
    assert stamps == sorted(stamps)


def test_more_ties_than_a_page(stream):
    rows = [invoice(i, 5) for i in range(1, 26)] + [invoice(i, 6) for i in range(26, 31)]
    fake = FakeQuery(rows)
    records = read_all(stream, fake)
    assert sorted(int(r["Id"]) for r in records) == list(range(1, 31))
    assert len(records) == 30  # no duplicates


def test_since_bound_and_lookback_duplicates_filtered(stream):
    fake = FakeQuery([invoice(i, i) for i in range(1, 21)])
    records = read_all(stream, fake, since=stamp(15))
    assert [r["Id"] for r in records] == ["15", "16", "17", "18", "19", "20"]
    assert "WHERE Metadata.LastUpdatedTime >= '" in fake.calls[0]
    assert records[0]["updated_at"] == "2024-01-01T08:00:15+00:00"
