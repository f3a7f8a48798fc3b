"""Progress lines (done/total, rate, ETA, per-stream summary) and the `--test` connection
check reaching every realm."""

from __future__ import annotations

import io
import logging
import re
from contextlib import redirect_stdout

from tap_quickbooks_online.progress import StreamProgress
from tap_quickbooks_online.tap import TapQuickBooksOnline


def test_progress_line_format_and_cadence():
    ticks = iter([0.0, 1.0, 2.0, 11.0, 12.0, 25.0, 26.0])
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("test-progress")
    logger.setLevel(logging.INFO)
    logger.addHandler(Capture())
    progress = StreamProgress("invoices", logger, interval=10, clock=lambda: next(ticks))
    progress.add_total("1", 3000)
    progress.advance(1000)   # t=1: not yet 10 s since start → silent
    progress.advance(1000)   # t=2
    progress.advance(500)    # t=11: logs
    assert records == ["progress invoices: 2500/3000 records (83.3%), 227 records/s, ETA 2s"]
    progress.advance(500)    # t=12: within 10 s of the last line → silent
    assert len(records) == 1
    assert progress.summary(requests=4).startswith(
        "summary invoices: 3000 records (0 deletes) from 1 realm(s) in 25.0s")


def test_progress_logged_during_a_sync(qbo_sandbox, make_config, tap_run, monkeypatch):
    monkeypatch.setattr(TapQuickBooksOnline, "progress_interval", 0.0)
    logger = logging.getLogger("tap-quickbooks-online")
    monkeypatch.setattr(logger, "level", logging.INFO)
    run = tap_run(make_config(qbo_sandbox, page_size=200), ["invoices"])
    lines = [line for line in run.logs.splitlines() if line.startswith("progress invoices")]
    assert len(lines) >= 5
    pattern = re.compile(r"progress invoices: (\d+)/(\d+) records \([\d.]+%\), \d+ records/s, ETA \d+s")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed)
    done = [int(m.group(1)) for m in parsed]
    assert done == sorted(done)
    total = len(run.records["invoices"])
    assert int(parsed[-1].group(2)) == total
    summary = [line for line in run.logs.splitlines() if line.startswith("summary invoices")]
    assert len(summary) == 1 and f"{total} records" in summary[0] and "2 realm(s)" in summary[0]


def test_connection_check_reaches_every_realm(qbo_sandbox, make_config, monkeypatch):
    logger = logging.getLogger("tap-quickbooks-online")
    monkeypatch.setattr(logger, "level", logging.INFO)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logging.getLogger().addHandler(handler)
    try:
        tap = TapQuickBooksOnline(config=make_config(qbo_sandbox))
        with redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
            assert tap.run_connection_test()
    finally:
        logging.getLogger().removeHandler(handler)
    for realm in qbo_sandbox.credentials()["realms"]:
        assert f"realm {realm['realm_id']} reachable: {realm['company_name']}" in buffer.getvalue()
