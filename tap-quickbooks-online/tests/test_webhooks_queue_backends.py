"""The durable event queue on SQLite (default) and PostgreSQL (shared deployments).

Concurrent deliveries of the same changes (QBO retrying while the first attempt is still being
answered) must queue each change exactly once, and the counts the receiver reports must add up.
PostgreSQL runs in a throw-away local cluster (server binaries `initdb`/`pg_ctl` needed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from tap_quickbooks_online.webhooks.event_queue import EventQueue
from tap_quickbooks_online.webhooks.events import ChangeEvent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("PostgreSQL server binaries not installed")
    pytest.importorskip("psycopg")
    base = Path(tempfile.mkdtemp(prefix="qbo-webhooks-pg-"))  # not pytest's 0700 tmp: postgres must reach it
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, "initdb", "-D", str(data), "-A", "trust", "-U", "webhooks"], check=True,
                   capture_output=True)
    subprocess.run([*prefix, "pg_ctl", "-D", str(data), "-o", f"-p {port} -k {base} -h 127.0.0.1",
                    "-l", str(base / "log"), "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://webhooks@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def queue(request, tmp_path):
    url = f"sqlite:///{tmp_path}/webhooks.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    q = EventQueue.from_url(url)
    assert q.engine.dialect.name == request.param
    yield q
    with q.engine.begin() as conn:  # the PostgreSQL database is shared by the params' tests
        conn.exec_driver_sql("DELETE FROM qbo_webhook_events")
        conn.exec_driver_sql("DELETE FROM qbo_webhook_runs")
    q.engine.dispose()


def events(start: int, n: int) -> list[ChangeEvent]:
    return [ChangeEvent("r1", "Invoice", str(i), "Update", "2026-01-01T00:00:00.000000Z") for i in range(start, start + n)]


def test_concurrent_retries_queue_each_change_once(queue):
    results = []
    lock = threading.Lock()

    def deliver(batch):
        result = queue.enqueue(batch)
        with lock:
            results.append(result)

    # 8 "deliveries" racing, overlapping pairwise: 0-99, 50-149, … and each sent twice.
    batches = [events(50 * k, 100) for k in range(4)] * 2
    threads = [threading.Thread(target=deliver, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    distinct = 250
    assert sum(r.queued for r in results) == distinct
    assert sum(r.duplicates for r in results) == 800 - distinct
    assert queue.waiting_count() == distinct and len({e["dedup_key"] for e in queue.events()}) == distinct


def test_watermark_run_cycle(queue):
    queue.enqueue(events(0, 10))
    batch = queue.next_batch()
    run_id = queue.start_run(batch)
    queue.set_run_process(run_id, "host-a", 1234)
    assert [r["pid"] for r in queue.unfinished_runs()] == [1234]
    queue.enqueue(events(10, 5))  # during the run
    assert queue.finish_run(run_id, batch, 0) == 10
    assert queue.waiting_count() == 5 and queue.unfinished_runs() == []
    run2 = queue.start_run(queue.next_batch())
    assert queue.mark_interrupted_runs() == 1  # as after a crash
    assert [r["status"] for r in queue.runs()] == ["succeeded", "interrupted"] and run2 > run_id
