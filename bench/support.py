"""Pieces the benchmark scripts share (not a benchmark itself: `make bench` runs bench/bench_*.py)."""

from __future__ import annotations

import datetime

# Runs singer-io's tap-quickbooks 2.5.0 against the local sandbox: its Intuit hosts are module
# constants, so the wrapper points them at BENCH_BASE_URL before the tap starts.
TAP_QUICKBOOKS_WRAPPER = """
import os, sys
import tap_quickbooks.client as client
base = os.environ["BENCH_BASE_URL"]
client.PROD_ENDPOINT_BASE = base
client.SANDBOX_ENDPOINT_BASE = base
client.TOKEN_REFRESH_URL = base + "/oauth2/v1/tokens/bearer"
import tap_quickbooks
sys.argv[0] = "tap-quickbooks"
tap_quickbooks.main()
"""


def invoices_changed_since(api, moment: datetime.datetime | None = None) -> int:
    """COUNT(*) of the invoices last changed at or after `moment` (all of them without one)."""
    where = "" if moment is None else \
        f" WHERE Metadata.LastUpdatedTime >= '{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    body = api.query(f"SELECT COUNT(*) FROM Invoice{where}").json()
    return int(body["QueryResponse"].get("totalCount", 0))


def start_date_for_invoices(api, wanted: float) -> str:
    """The LastUpdatedTime after which about `wanted` invoices were changed (bisection on
    COUNT(*), which the sandbox answers fast)."""
    hi = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    lo = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    for _ in range(30):
        mid = lo + (hi - lo) / 2
        if invoices_changed_since(api, mid) > wanted:
            lo = mid
        else:
            hi = mid
    return hi.strftime("%Y-%m-%dT%H:%M:%SZ")
