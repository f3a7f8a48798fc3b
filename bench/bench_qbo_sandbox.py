"""QBO sandbox throughput: 1000-row pages per second, latency model off, measured side by side.

The server runs in its own process (one core: CPython, one event loop); this process is the
client (a bare ``http.client`` connection that reads each body whole, so the number measured is
the server's, not a JSON parser's). For every scenario the bench prints wall pages/s and the
*server process's* CPU seconds per page (from ``/proc/<pid>/stat``), i.e. records per
CPU-second: on this shared machine wall time moves with the other helpers' load, CPU per page
much less.

Scenarios (large company unless said otherwise):
- uncached: first read of Invoice pages (``ORDERBY Metadata.LastUpdatedTime``): every document
  generated and serialized on first touch;
- cached: the same pages again (per-object bytes from the LRU);
- incremental: first read of pages of ``WHERE Metadata.LastUpdatedTime > X`` (another region);
- other entities: one uncached 1000-row page of each transaction entity;
- demo company: uncached pages of every entity;
- ``COUNT(*)`` with and without a LastUpdatedTime filter.

Target: >= 20 uncached 1000-row pages/s on one core. ``--pages N`` (default 20).
"""
from __future__ import annotations

import argparse
import http.client
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandbox"))

from qbo_sandbox.testing import QboSandboxServer  # noqa: E402

TXN_ENTITIES = ["Invoice", "Estimate", "Bill", "Purchase", "Payment", "TimeActivity", "SalesReceipt",
                "BillPayment", "PurchaseOrder", "CreditMemo", "JournalEntry", "Deposit", "RefundReceipt",
                "VendorCredit", "Transfer"]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (and its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Client:
    def __init__(self, sb: QboSandboxServer, realm_id: str):
        u = urlsplit(sb.base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        self.path = f"/v3/company/{realm_id}/query?minorversion=75&query="
        self.headers = {"Authorization": f"Bearer {sb.access_token(realm_id)}", "Accept": "application/json"}

    def query(self, text: str) -> bytes:
        self.conn.request("GET", self.path + quote(text), headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"{r.status}: {body[:300]!r}")
        return body


class Meter:
    def __init__(self, pid: int):
        self.pid = pid

    def run(self, fn, pages: int) -> tuple[float, float]:
        """(wall pages/s, server CPU seconds per page) of ``fn()`` which fetches ``pages`` pages."""
        c0, t0 = cpu_seconds(self.pid), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - t0, cpu_seconds(self.pid) - c0
        return pages / wall, cpu / pages


def page_query(entity: str, n: int, where: str = "") -> str:
    return f"SELECT * FROM {entity}{where} ORDERBY Metadata.LastUpdatedTime STARTPOSITION {n * 1000 + 1} MAXRESULTS 1000"


def fetch_pages(client: Client, entity: str, first: int, pages: int, where: str = "", rows: int = 1000) -> None:
    # Last page first: a server's next-page prefetch (if on) then finds the following page already
    # cached, so no background work for pages outside the measured ones leaks into the numbers.
    for n in reversed(range(first, first + pages)):
        body = client.query(page_query(entity, n, where))
        assert body.count(b'"maxResults":%d}' % rows) == 1, body[-200:]


def line(label: str, pps: float, cpu: float) -> str:
    rate = 1000 / cpu if cpu > 0 else float("inf")
    return f"  {label:<34s} {pps:7.1f} pages/s wall  {cpu * 1000:7.1f} ms server CPU/page  {rate:9,.0f} rows/CPU-s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=20)
    args = ap.parse_args()
    pages = args.pages
    with QboSandboxServer(realms=1, size="large", seed=42, latency=False, subprocess_mode=True) as sb:
        client = Client(sb, sb.realm_ids()[0])
        meter = Meter(sb._proc.pid)
        # The server's next-page prefetch (on by default) would do the next page's work in the
        # background, outside the measured request: off, so CPU per page is the whole cost.
        sb.control("POST", "/_sandbox/latency", json={"prefetch": False})
        t0 = time.perf_counter()
        client.query("SELECT COUNT(*) FROM Invoice")  # the first touch builds the entity's index
        first_count = time.perf_counter() - t0
        cold = meter.run(lambda: fetch_pages(client, "Invoice", 0, pages), pages)
        warm = meter.run(lambda: fetch_pages(client, "Invoice", 0, pages), pages)
        # Incremental sync of the last months: a LastUpdatedTime filter far from the pages above.
        body = client.query("SELECT * FROM Invoice ORDERBY Metadata.LastUpdatedTime STARTPOSITION 60001 MAXRESULTS 1")
        since = body.split(b'"LastUpdatedTime":"', 1)[1].split(b'"', 1)[0].decode()
        where = f" WHERE Metadata.LastUpdatedTime > '{since}'"
        incr = meter.run(lambda: fetch_pages(client, "Invoice", 0, min(pages, 10), where), min(pages, 10))
        counts = {"COUNT(*) Invoice, first touch": first_count}
        for label, q in (("COUNT(*) Invoice", "SELECT COUNT(*) FROM Invoice"),
                         ("COUNT(*) Invoice incremental", f"SELECT COUNT(*) FROM Invoice{where}")):
            t0 = time.perf_counter()
            client.query(q)
            counts[label] = time.perf_counter() - t0
        per_entity = {}
        for e in TXN_ENTITIES[1:]:
            client.query(f"SELECT COUNT(*) FROM {e}")  # builds the entity's index: not a page's cost
            per_entity[e] = meter.run(lambda e=e: fetch_pages(client, e, 3, 2), 2)
    with QboSandboxServer(realms=1, size="demo", seed=42, latency=False, subprocess_mode=True) as sb:
        client = Client(sb, sb.realm_ids()[0])
        meter = Meter(sb._proc.pid)
        sb.control("POST", "/_sandbox/latency", json={"prefetch": False})
        client.query("SELECT * FROM Account MAXRESULTS 1")  # waits for the start-up balances pass
        demo_rows = 0

        def demo_all():
            nonlocal demo_rows
            for e in TXN_ENTITIES:
                n = 0
                while True:
                    body = client.query(page_query(e, n))
                    if b'"maxResults":' not in body:
                        break
                    got = int(body.rsplit(b'"maxResults":', 1)[1].split(b"}", 1)[0])
                    demo_rows += got
                    n += 1
                    if got < 1000:
                        break
        c0, t0 = cpu_seconds(meter.pid), time.perf_counter()
        demo_all()
        demo_wall, demo_cpu = time.perf_counter() - t0, cpu_seconds(meter.pid) - c0
    print(f"qbo sandbox, 1000-row pages, latency off (server process CPU measured; {pages} pages):")
    print(line("large Invoice uncached (first read)", *cold))
    print(line("large Invoice cached", *warm))
    print(line("large Invoice incremental uncached", *incr))
    for e, (pps, cpu) in per_entity.items():
        print(line(f"large {e} uncached", pps, cpu))
    print(f"  demo, every transaction entity uncached: {demo_rows:,} rows in {demo_wall:.2f} s wall, "
          f"{demo_rows / demo_cpu if demo_cpu else float('inf'):,.0f} rows/CPU-s")
    for label, s in counts.items():
        print(f"  {label:<34s} {s * 1000:7.1f} ms")
    print(f"uncached/cached pages/s: {cold[0]:.1f} / {warm[0]:.1f} (ratio {cold[0] / warm[0]:.2f}); "
          f"target >= 20 uncached pages/s")


if __name__ == "__main__":
    main()
