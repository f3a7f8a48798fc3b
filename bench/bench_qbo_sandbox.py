"""QBO sandbox throughput: 1000-row Invoice pages per second, latency model off.

Measured side by side in one run on the large company: cold pages (documents generated and
serialized on first touch) and warm pages (cached bytes), through real HTTP on 127.0.0.1.
Target: ≥ 20 pages/s.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandbox"))

from qbo_sandbox.testing import QboSandboxServer  # noqa: E402

PAGES = 20


def run_pages(api, start_page: int, pages: int) -> float:
    t0 = time.perf_counter()
    for p in range(start_page, start_page + pages):
        r = api.query(f"SELECT * FROM Invoice ORDERBY Metadata.LastUpdatedTime STARTPOSITION {p * 1000 + 1} "
                      f"MAXRESULTS 1000")
        # The client only checks the envelope: the number measured is the server's, not json.loads'.
        assert r.status_code == 200 and b'"maxResults":1000}' in r.content
    return pages / (time.perf_counter() - t0)


def main() -> None:
    # The server runs in its own process (one core), the client in this one.
    with QboSandboxServer(realms=1, size="large", seed=42, latency=False, subprocess_mode=True) as sb:
        api = sb.api(sb.realm_ids()[0])
        cold = run_pages(api, 0, PAGES)
        time.sleep(3)  # let the server's next-page prefetch finish before timing warm pages
        warm = run_pages(api, 0, PAGES)
    print(f"qbo sandbox 1000-row Invoice pages/s: cold {cold:.1f}, warm {warm:.1f} "
          f"(target >= 20; warm/cold ratio {warm / cold:.2f})")


if __name__ == "__main__":
    main()
